import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KiveData, KivePolicy, NodeReport } from '../../src/api/v1/types.ts';
import { createDiscoverReconciler } from '../../src/controllers/discover.ts';
import { createLoaderReconciler } from '../../src/controllers/loader.ts';
import type { Pod } from '../../src/controllers/match.ts';
import { trapId } from '../../src/controllers/naming.ts';
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
// The pods live in the policy's own namespace unless a test says otherwise.
const pod = (name: string, containers: Array<[string, string | undefined]>, namespace = 'ns'): Pod => ({
  metadata: { name, namespace, uid: `uid-${name}` },
  spec: { containers: containers.map(([n]) => ({ name: n })) },
  status: {
    containerStatuses: containers.map(([n, id]) => ({ name: n, ...(id ? { containerID: id, state: { running: {} } } : { state: { waiting: {} } }) })),
  },
});

function discoverHarness(pods: Pod[], existing: KiveData[] = [], resolveErr?: (root: string) => Error | undefined, pol: KivePolicy = policy) {
  const applied: KiveData[] = [];
  const deleted: string[] = [];
  const reports: NodeReport[] = [];
  const watched: Array<[string, string[]]> = [];
  const located: string[] = [];
  const inFlight = { now: 0, max: 0 };
  const reconcile = createDiscoverReconciler({
    nodeName: 'n1',
    kernelId: 'k1',
    namespace: 'kivebpf-system',
    caches: { policy: (k) => (k === `${pol.metadata.namespace}/${pol.metadata.name}` ? pol : undefined), pods: () => pods, kiveDataOf: () => existing },
    writer: {
      apply: async (d) => {
        inFlight.now++;
        inFlight.max = Math.max(inFlight.max, inFlight.now);
        await new Promise((r) => setImmediate(r));
        inFlight.now--;
        applied.push(d);
      },
      delete: async (_ns, n) => void deleted.push(n),
      reportStatus: async (_p, r) => void reports.push(r),
    },
    locate: async (id) => (located.push(id), Number(id.replace('containerd://', ''))),
    resolve: (o) => {
      const err = resolveErr?.(o.root);
      if (err) throw err;
      return { ino: BigInt(o.root.split('/')[2]!), dev: 7, created: false };
    },
    watches: { sync: (key, targets) => (watched.push([key, targets.map((t) => `${t.root}:${t.path}`)]), 0) },
    log,
    procRoot: '/proc',
  });
  return { reconcile, applied, deleted, reports, watched, located, inFlight };
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

test('discover: a pod in its grace period keeps its running container armed; the one that never started is not pending', async () => {
  const deleting = pod('a', [['web', 'containerd://101'], ['side', undefined]]);
  deleting.metadata.deletionTimestamp = '2026-12-02T00:00:00Z';
  const first = discoverHarness([pod('a', [['web', 'containerd://101']])]);
  await first.reconcile('ns/p');
  const h = discoverHarness([deleting], first.applied);
  await h.reconcile('ns/p');
  assert.deepEqual(h.deleted, [], 'its KiveData stays while the container runs');
  assert.deepEqual([h.reports[0]?.matchedContainers, h.reports[0]?.armedTraps, h.reports[0]?.pendingContainers], [1, 1, 0]);
  deleting.status!.containerStatuses = [{ name: 'web', containerID: 'containerd://101', state: { terminated: {} } }];
  const gone = discoverHarness([deleting], first.applied);
  await gone.reconcile('ns/p');
  assert.deepEqual(gone.deleted, [first.applied[0]!.metadata.name], 'its container exited: the KiveData go');
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

test('discover: KiveData read back from the API server (keys sorted) is not applied again; each container is located once', async () => {
  const twoTraps: KivePolicy = { ...policy, spec: { traps: [policy.spec.traps[0]!, { ...policy.spec.traps[0]!, path: '/other.txt' }] } };
  const pods = [pod('a', [['web', 'containerd://101']]), pod('b', [['web', 'containerd://202']])];
  const first = discoverHarness(pods, [], undefined, twoTraps);
  await first.reconcile('ns/p');
  assert.equal(first.applied.length, 4);
  assert.deepEqual(first.located.sort(), ['containerd://101', 'containerd://202'], 'one lookup per container, not per trap');
  assert.equal(first.inFlight.max, 4, 'the applies run side by side, not one round trip after another');
  // What the informer caches: the API server writes map keys in sorted order.
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sorted(x)])) : v;
  const fromServer = first.applied.map((d) => sorted(d) as KiveData);
  assert.notEqual(JSON.stringify(fromServer[0]!.spec), JSON.stringify(first.applied[0]!.spec), 'the fixture really reorders');
  const again = discoverHarness(pods, fromServer, undefined, twoTraps);
  await again.reconcile('ns/p');
  assert.deepEqual(again.applied, [], 'a recheck or a restart writes nothing when nothing changed');
  assert.deepEqual(again.deleted, []);
});

test('discover: a policy outside the operator\'s namespace selects only its own namespace\'s pods and says NamespaceNotAllowed', async () => {
  const tenant: KivePolicy = {
    ...policy,
    metadata: { name: 'p', namespace: 'team-a', generation: 1 },
    spec: { traps: [{ path: '/planted.txt', create: true, matchAny: [{ namespace: 'default' }, { namespace: 'team-a' }, { containerName: 'web' }] }] },
  };
  const pods = [pod('mine', [['web', 'containerd://101']], 'team-a'), pod('theirs', [['web', 'containerd://202']], 'default'), pod('sys', [['web', 'containerd://303']], 'kube-system')];
  const created: string[] = [];
  const h = discoverHarness(pods, [], (root) => {
    created.push(root);
    return undefined;
  }, tenant);
  await h.reconcile('team-a/p');
  assert.deepEqual(created, ['/proc/101/root'], 'nothing is resolved, so nothing created, in another namespace\'s containers');
  assert.deepEqual(h.applied.map((d) => d.spec.podName), ['mine']);
  const report = h.reports[0]!;
  assert.deepEqual([report.matchedContainers, report.armedTraps, report.pendingContainers], [1, 1, 0]);
  assert.deepEqual(report.problems?.map((p) => p.reason), ['NamespaceNotAllowed']);
  assert.match(report.problems![0]!.message, /namespace "default"; a KivePolicy in namespace "team-a" selects only pods of its own namespace \(only policies in "kivebpf-system"/);
  assert.doesNotMatch(JSON.stringify(report), /theirs|kube-system|202|303/, 'the status names no pod or container of another namespace');

  // The same blocks in the operator's namespace reach every namespace, without a problem.
  const cluster: KivePolicy = { ...tenant, metadata: { ...tenant.metadata, namespace: 'kivebpf-system' } };
  const all = discoverHarness(pods, [], undefined, cluster);
  await all.reconcile('kivebpf-system/p');
  assert.deepEqual(all.applied.map((d) => d.spec.podName).sort(), ['mine', 'sys', 'theirs']);
  assert.deepEqual(all.reports[0]?.problems, []);
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
