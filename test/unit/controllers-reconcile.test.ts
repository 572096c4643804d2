import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KiveData, KivePolicy, NodeReport } from '../../src/api/v1/types.ts';
import { createDiscoverReconciler } from '../../src/controllers/discover.ts';
import { createLoaderReconciler } from '../../src/controllers/loader.ts';
import type { Pod } from '../../src/controllers/match.ts';
import { trapId } from '../../src/controllers/naming.ts';
import { createPodReconciler, KEYS, readyCondition } from '../../src/controllers/pod.ts';
import { KiveError } from '../../src/errors.ts';
import { TrapModel } from '../../src/traps/model.ts';
import { fakeTrapMap } from '../helpers/trap-map.ts';

const log = { info() {}, warn() {}, error() {}, debug() {}, child() { return log; } } as never;

const policy: KivePolicy = {
  apiVersion: 'kivebpf.san7o.github.io/v1',
  kind: 'KivePolicy',
  metadata: { name: 'p', namespace: 'ns', generation: 3 },
  spec: { alertVersion: 'v1', traps: [{ path: '/secret.txt', create: true, mode: 444, matchAny: [{ containerName: 'regex: .*' }] }] },
};
const pod = (name: string, containers: Array<[string, string | undefined]>): Pod => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { containers: containers.map(([n]) => ({ name: n })) },
  status: {
    containerStatuses: containers.map(([n, id]) => ({ name: n, ...(id ? { containerID: id, state: { running: {} } } : { state: { waiting: {} } }) })),
  },
});

function discoverHarness(pods: Pod[], existing: KiveData[] = [], resolveErr?: (root: string) => Error | undefined) {
  const applied: KiveData[] = [];
  const deleted: string[] = [];
  const reports: NodeReport[] = [];
  const watched: Array<[string, string[]]> = [];
  const reconcile = createDiscoverReconciler({
    nodeName: 'n1',
    kernelId: 'k1',
    namespace: 'kivebpf-system',
    caches: { policy: (k) => (k === 'ns/p' ? policy : undefined), pods: () => pods, kiveDataOf: () => existing },
    writer: {
      apply: async (d) => void applied.push(d),
      delete: async (_ns, n) => void deleted.push(n),
      reportStatus: async (_p, r) => void reports.push(r),
    },
    locate: async (id) => Number(id.replace('containerd://', '')),
    resolve: (o) => {
      const err = resolveErr?.(o.root);
      if (err) throw err;
      return { ino: BigInt(o.root.split('/')[2]!), dev: 7, created: false };
    },
    watches: { sync: (key, targets) => (watched.push([key, targets.map((t) => `${t.root}:${t.path}`)]), 0) },
    log,
    procRoot: '/proc',
  });
  return { reconcile, applied, deleted, reports, watched };
}

test('discover: one KiveData per (trap, container); a pending container does not hold up the others', async () => {
  const h = discoverHarness([pod('a', [['web', 'containerd://101'], ['side', undefined]]), pod('b', [['web', 'containerd://202']])]);
  const result = await h.reconcile('ns/p');
  assert.deepEqual(h.applied.map((d) => [d.spec.podName, d.spec.containerName, d.spec.inode]).sort(), [
    ['a', 'web', '101'],
    ['b', 'web', '202'],
  ]);
  assert.deepEqual(h.reports[0], { node: 'n1', kernelId: 'k1', observedGeneration: 3, matchedContainers: 3, armedTraps: 2, pendingContainers: 1, problems: [] });
  assert.equal((result as { requeueAfterMs: number }).requeueAfterMs, 2000, 'pending: retried soon');
  assert.deepEqual(h.watched, [['ns/p', ['/proc/101/root:/secret.txt', '/proc/202/root:/secret.txt']]], 'the running containers\' trap directories are watched');
});

test('discover: an unsafe path is reported, not armed; stale KiveData are deleted; unchanged ones are not rewritten', async () => {
  const first = discoverHarness([pod('a', [['web', 'containerd://101']])]);
  await first.reconcile('ns/p');
  const current = first.applied[0]!;
  const stale = { ...current, metadata: { ...current.metadata, name: 'kive-data-gone' } };
  const h = discoverHarness([pod('a', [['web', 'containerd://101']]), pod('c', [['web', 'containerd://303']])], [current, stale], (root) =>
    root.includes('303') ? new KiveError('KIVE_UNSAFE_PATH', 'symlink') : undefined,
  );
  await h.reconcile('ns/p');
  assert.deepEqual(h.applied, [], 'unchanged KiveData is not applied again; the unsafe one is not armed');
  assert.deepEqual(h.deleted, ['kive-data-gone']);
  assert.equal(h.reports[0]?.problems?.[0]?.reason, 'UnsafePath');
  assert.equal(h.watched[0]?.[1].length, 2, 'an unresolvable file\'s directory is watched too: its fix shows at once');
});

test('discover: a deleted policy deletes its KiveData on this node', async () => {
  const h = discoverHarness([], [{ apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KiveData', metadata: { name: 'x', namespace: 'kivebpf-system' }, spec: { inodeNo: 1, devId: 1 } }]);
  await h.reconcile('ns/gone');
  assert.deepEqual(h.deleted, ['x']);
  assert.deepEqual(h.watched, [['ns/gone', []]], 'its watches are closed');
});

test('loader: arms KiveData of its kernel, deletes KiveData whose trap is gone, disarms on delete', async () => {
  const id = trapId(policy, policy.spec.traps[0]!);
  const data = (name: string, tid: string, ino: string): KiveData => ({
    apiVersion: 'kivebpf.san7o.github.io/v1',
    kind: 'KiveData',
    metadata: { name, namespace: 'kivebpf-system' },
    spec: { inodeNo: Number(ino), inode: ino, devId: 5, kernelId: 'k1', policyName: 'p', policyNamespace: 'ns', trapId: tid, nodeName: 'n2' },
  });
  const store = new Map<string, KiveData>([
    ['kivebpf-system/good', data('good', id, '10')],
    ['kivebpf-system/orphan', data('orphan', 'not-a-trap', '11')],
  ]);
  const map = fakeTrapMap();
  const deleted: string[] = [];
  const traps = new TrapModel(map);
  const reconcile = createLoaderReconciler({
    kernelId: 'k1',
    caches: { kiveData: (k) => store.get(k), policy: (k) => (k === 'ns/p' ? policy : undefined), policiesSynced: () => true },
    traps,
    deleteKiveData: async (_ns, n) => void deleted.push(n),
    trapIdsOf: (p) => new Set(p.spec.traps.map((t) => trapId(p, t))),
    log,
  });
  await reconcile('kivebpf-system/good');
  await reconcile('kivebpf-system/orphan');
  assert.deepEqual([...map.entries.keys()], ['10:5']);
  assert.deepEqual(deleted, ['orphan']);
  assert.equal(traps.trapsFor({ ino: 10n, dev: 5 })[0]?.nodeName, 'n2', 'alerts name the node of the container');
  store.delete('kivebpf-system/good');
  await reconcile('kivebpf-system/good');
  assert.equal(map.entries.size, 0);
});

test('Ready condition: problems first, then missing matches, pending; transition time kept when unchanged', () => {
  const withNodes = (nodes: NodeReport[]): KivePolicy => ({ ...policy, status: { nodes } });
  const armed = readyCondition(withNodes([{ node: 'n1', matchedContainers: 2, armedTraps: 2, pendingContainers: 0, problems: [] }]), undefined, 't1');
  assert.deepEqual([armed.status, armed.reason, armed.lastTransitionTime], ['True', 'Armed', 't1']);
  assert.equal(readyCondition(withNodes([{ node: 'n1', matchedContainers: 2, armedTraps: 2 }]), armed, 't2').lastTransitionTime, 't1');
  const unsafe = readyCondition(withNodes([{ node: 'n1', matchedContainers: 1, problems: [{ reason: 'UnsafePath', message: 'm' }] }]), armed, 't3');
  assert.deepEqual([unsafe.status, unsafe.reason, unsafe.lastTransitionTime], ['False', 'UnsafePath', 't3']);
  assert.equal(readyCondition(withNodes([]), undefined, 't').reason, 'NoMatchingContainers');
  assert.equal(readyCondition({ ...policy, spec: { traps: [{ path: '/x' }] } }, undefined, 't').reason, 'NoMatchAny');
});

test('pod controller: KiveData of a deleted or replaced pod go; a dead kernel is collected after its grace', async () => {
  let now = 0;
  const kd = (name: string, podName: string, podUid: string, kernelId: string): KiveData => ({
    apiVersion: 'kivebpf.san7o.github.io/v1',
    kind: 'KiveData',
    metadata: { name, namespace: 'kivebpf-system' },
    spec: { inodeNo: 1, devId: 1, podName, podNamespace: 'default', podUid, kernelId },
  });
  const all = [kd('a', 'web', 'uid-old', 'alive'), kd('b', 'web2', 'uid-web2', 'dead')];
  const deleted: string[] = [];
  let aliveRv = 1;
  const reconcile = createPodReconciler({
    caches: {
      pod: (k) => (k === 'default/web' ? pod('web', [['c', 'containerd://1']]) : undefined),
      kiveDataOfPod: (k) => all.filter((d) => `${d.spec.podNamespace}/${d.spec.podName}` === k),
      kiveDataOfPolicy: () => [],
      policy: () => undefined,
      allKiveData: () => all.filter((d) => !deleted.includes(d.metadata.name)),
      loaderLeases: () => new Map([['alive', String(aliveRv)]]),
    },
    writer: { deleteKiveData: async (_ns, n) => void deleted.push(n), addFinalizer: async () => {}, removeFinalizer: async () => {}, applyPolicyStatus: async () => {} },
    log,
    now: () => now,
    kernelGraceMs: 1000,
  });
  await reconcile(KEYS.pod + 'default/web'); // same name, new uid: the old pod's KiveData go
  assert.deepEqual(deleted, ['a']);
  deleted.length = 0;
  await reconcile(KEYS.gcKernels);
  now = 600;
  aliveRv++;
  await reconcile(KEYS.gcKernels);
  assert.deepEqual(deleted, [], 'within the grace period nothing is collected');
  now = 1200;
  aliveRv++; // the live kernel's loader keeps renewing
  all.push(kd('c', 'web', 'uid-web', 'alive'));
  await reconcile(KEYS.gcKernels);
  assert.deepEqual(deleted, ['b'], 'only the kernel whose lease stopped changing');
});
