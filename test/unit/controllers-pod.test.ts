// The pod controller's three reconcilers, each on its own key type, with the caches and
// writes faked: pod cleanup, policy status (finalizer and Ready), dead-kernel collection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KiveData, KivePolicy, KivePolicyStatus, NodeReport } from '../../src/api/v1/types.ts';
import { createKernelGcReconciler, KERNELS } from '../../src/controllers/kernel-gc.ts';
import type { Pod } from '../../src/controllers/match.ts';
import { createPodCleanupReconciler } from '../../src/controllers/pod-cleanup.ts';
import { podKey, podKeyOfData, policyKey, policyKeyOfData, type PodKey, type PolicyKey } from '../../src/controllers/pod-controller.ts';
import { createPolicyStatusReconciler, POLICY_FINALIZER, readyCondition } from '../../src/controllers/policy-status.ts';

const log = { info() {}, warn() {}, error() {}, debug() {}, child() { return log; } } as never;
const signal = new AbortController().signal;

const kd = (name: string, spec: Partial<KiveData['spec']>): KiveData => ({
  apiVersion: 'kivebpf.san7o.github.io/v1',
  kind: 'KiveData',
  metadata: { name, namespace: 'kivebpf-system' },
  spec: { inodeNo: 1, devId: 1, podNamespace: 'default', policyNamespace: 'kivebpf-system', ...spec },
});

const runningPod = (name: string, uid: string, extra: Partial<Pod['metadata']> = {}, phase = 'Running'): Pod => ({
  metadata: { name, namespace: 'default', uid, ...extra },
  spec: { containers: [{ name: 'app' }] },
  status: { phase, containerStatuses: [{ name: 'app', containerID: 'containerd://1', state: { running: {} } }] },
});

const policy = (extra: Partial<KivePolicy['metadata']> = {}, status?: KivePolicyStatus): KivePolicy => ({
  apiVersion: 'kivebpf.san7o.github.io/v1',
  kind: 'KivePolicy',
  metadata: { name: 'p', namespace: 'kivebpf-system', generation: 2, ...extra },
  spec: { traps: [{ path: '/s', matchAny: [{ pod: 'web' }] }] },
  ...(status ? { status } : {}),
});

test('keys: a KiveData maps to the cache keys of its pod and its policy', () => {
  const d = kd('x', { podName: 'web', policyName: 'p' });
  assert.equal(podKeyOfData(d), podKey({ metadata: { namespace: 'default', name: 'web' } }));
  assert.equal(podKeyOfData(d), 'default/web');
  assert.equal(policyKeyOfData(d), policyKey(policy()));
  assert.equal(policyKeyOfData(d), 'kivebpf-system/p');
});

test('pod cleanup: KiveData of a deleted, finished or replaced pod go; a running pod keeps its own', async () => {
  const pods = new Map<string, Pod>();
  const data = [kd('of-old-uid', { podName: 'web', podUid: 'uid-old' }), kd('current', { podName: 'web', podUid: 'uid-new' }), kd('of-gone', { podName: 'gone', podUid: 'u' })];
  const deleted: string[] = [];
  const reconcile = createPodCleanupReconciler({
    caches: { pod: (k) => pods.get(k), kiveDataOfPod: (k) => data.filter((d) => !deleted.includes(d.metadata.name) && podKeyOfData(d) === k) },
    deleteKiveData: async (_ns, name) => void deleted.push(name),
    log,
  });
  const web = 'default/web' as PodKey;
  pods.set(web, runningPod('web', 'uid-new'));
  await reconcile(web, signal);
  assert.deepEqual(deleted, ['of-old-uid'], 'same name, new uid: the earlier pod\'s KiveData go, the current one stays');
  await reconcile('default/gone' as PodKey, signal);
  assert.deepEqual(deleted, ['of-old-uid', 'of-gone']);
  // Being deleted, its container still running (the grace period): it keeps its KiveData.
  pods.set(web, runningPod('web', 'uid-new', { deletionTimestamp: '2026-12-02T00:00:00Z' }));
  await reconcile(web, signal);
  assert.deepEqual(deleted, ['of-old-uid', 'of-gone'], 'a pod in its grace period is still watched');
  // Its container exited: the KiveData go, though the pod object is still there.
  const exited = runningPod('web', 'uid-new', { deletionTimestamp: '2026-12-02T00:00:00Z' });
  exited.status!.containerStatuses = [{ name: 'app', containerID: 'containerd://1', state: { terminated: {} } }];
  pods.set(web, exited);
  await reconcile(web, signal);
  assert.deepEqual(deleted, ['of-old-uid', 'of-gone', 'current'], 'its containers are gone');
  deleted.pop();
  pods.set(web, runningPod('web', 'uid-new', {}, 'Succeeded'));
  await reconcile(web, signal);
  assert.deepEqual(deleted, ['of-old-uid', 'of-gone', 'current'], 'a finished pod');
});

test('policy status: adds the finalizer, writes Ready once, and a deleted policy releases it only after its KiveData are gone', async () => {
  const calls: string[] = [];
  let current: KivePolicy | undefined = policy({}, { nodes: [{ node: 'n1', matchedContainers: 1, armedTraps: 1, pendingContainers: 0 }] });
  const data = [kd('d1', { policyName: 'p' }), kd('d2', { policyName: 'p' })];
  const deleted: string[] = [];
  let written: KivePolicyStatus | undefined;
  const reconcile = createPolicyStatusReconciler({
    caches: { policy: () => current, kiveDataOfPolicy: () => data.filter((d) => !deleted.includes(d.metadata.name)) },
    writer: {
      deleteKiveData: async (_ns, name) => void (calls.push(`delete ${name}`), deleted.push(name)),
      addFinalizer: async () => void calls.push('addFinalizer'),
      removeFinalizer: async () => void calls.push('removeFinalizer'),
      applyPolicyStatus: async (_p, s) => void (calls.push('status'), (written = s)),
    },
    log,
    now: () => Date.parse('2026-12-02T00:00:00Z'),
  });
  const key = 'kivebpf-system/p' as PolicyKey;
  await reconcile(key, signal);
  assert.deepEqual(calls, ['addFinalizer', 'status']);
  assert.equal(written?.conditions?.[0]?.reason, 'Armed');
  assert.equal(written?.armedTraps, 2, 'armed: the KiveData that exist');
  assert.equal(written?.observedGeneration, 2);

  // The write came back through the cache: nothing changed, nothing is written.
  current = { ...current!, metadata: { ...current!.metadata, finalizers: [POLICY_FINALIZER] }, status: { ...current!.status, ...written } };
  calls.length = 0;
  await reconcile(key, signal);
  assert.deepEqual(calls, []);

  current = { ...current, metadata: { ...current.metadata, deletionTimestamp: '2026-12-02T00:00:01Z' } };
  await reconcile(key, signal);
  assert.deepEqual(calls, ['delete d1', 'delete d2', 'removeFinalizer']);

  // Deleted before the finalizer was on: its KiveData go anyway.
  current = undefined;
  deleted.length = 0;
  calls.length = 0;
  await reconcile(key, signal);
  assert.deepEqual(calls, ['delete d1', 'delete d2']);
});

test('Ready condition: problems first, then missing matches, pending; transition time kept when unchanged', () => {
  const withNodes = (nodes: NodeReport[]): KivePolicy => policy({}, { nodes });
  const armed = readyCondition(withNodes([{ node: 'n1', matchedContainers: 2, armedTraps: 2, pendingContainers: 0, problems: [] }]), undefined, 't1');
  assert.deepEqual([armed.status, armed.reason, armed.lastTransitionTime], ['True', 'Armed', 't1']);
  assert.equal(readyCondition(withNodes([{ node: 'n1', matchedContainers: 2, armedTraps: 2 }]), armed, 't2').lastTransitionTime, 't1');
  const unsafe = readyCondition(withNodes([{ node: 'n1', matchedContainers: 1, problems: [{ reason: 'UnsafePath', message: 'm' }] }]), armed, 't3');
  assert.deepEqual([unsafe.status, unsafe.reason, unsafe.lastTransitionTime], ['False', 'UnsafePath', 't3']);
  assert.equal(readyCondition(withNodes([]), undefined, 't').reason, 'NoMatchingContainers');
  assert.equal(readyCondition({ ...policy(), spec: { traps: [{ path: '/x' }] } }, undefined, 't').reason, 'NoMatchAny');
});

test('Ready stays True/Armed while one container is armed and another starts (a rollout), counting the pending one', () => {
  const withNodes = (nodes: NodeReport[]): KivePolicy => policy({}, { nodes });
  const before = readyCondition(withNodes([{ node: 'n1', matchedContainers: 1, armedTraps: 1, pendingContainers: 0 }]), undefined, 't1');
  // The new replica is scheduled on another node and not running yet; the old one is armed.
  const rollout = readyCondition(withNodes([{ node: 'n1', matchedContainers: 1, armedTraps: 1, pendingContainers: 0 }, { node: 'n2', matchedContainers: 1, armedTraps: 0, pendingContainers: 1 }]), before, 't2');
  assert.deepEqual([rollout.status, rollout.reason, rollout.lastTransitionTime], ['True', 'Armed', 't1'], 'no transition');
  assert.match(rollout.message, /1 trap\(s\) armed in 2 matched container\(s\), 1 not running yet/);
  // Nothing armed yet: pending is the reason.
  const starting = readyCondition(withNodes([{ node: 'n2', matchedContainers: 1, armedTraps: 0, pendingContainers: 1 }]), undefined, 't3');
  assert.deepEqual([starting.status, starting.reason], ['False', 'ContainersPending']);
  // A failure anywhere wins over armed ones.
  const failed = readyCondition(withNodes([{ node: 'n1', matchedContainers: 1, armedTraps: 1 }, { node: 'n2', matchedContainers: 1, problems: [{ reason: 'PathNotFound', message: '/s in default/web/app: missing' }] }]), rollout, 't4');
  assert.deepEqual([failed.status, failed.reason], ['False', 'PathNotFound']);
});

test('policy status counts the pending containers of every node', async () => {
  let written: KivePolicyStatus | undefined;
  const reconcile = createPolicyStatusReconciler({
    caches: {
      policy: () => policy({ finalizers: [POLICY_FINALIZER] }, { nodes: [{ node: 'n1', matchedContainers: 2, armedTraps: 1, pendingContainers: 1 }, { node: 'n2', matchedContainers: 1, pendingContainers: 1 }] }),
      kiveDataOfPolicy: () => [kd('d1', { policyName: 'p' })],
    },
    writer: { deleteKiveData: async () => {}, addFinalizer: async () => {}, removeFinalizer: async () => {}, applyPolicyStatus: async (_p, s) => void (written = s) },
    log,
    now: () => 0,
  });
  await reconcile('kivebpf-system/p' as PolicyKey, signal);
  assert.deepEqual([written?.matchedContainers, written?.armedTraps, written?.pendingContainers, written?.conditions?.[0]?.reason], [3, 1, 2, 'Armed']);
});

test('policy status: while KiveData keep coming, the status is written at most once per interval, the last count at its end', async () => {
  let now = 10_000;
  const data = [kd('d1', { policyName: 'p' })];
  let current = policy({ finalizers: [POLICY_FINALIZER] });
  const writes: Array<number | undefined> = [];
  const reconcile = createPolicyStatusReconciler({
    caches: { policy: () => current, kiveDataOfPolicy: () => data },
    writer: {
      deleteKiveData: async () => {},
      addFinalizer: async () => {},
      removeFinalizer: async () => {},
      applyPolicyStatus: async (_p, s) => void (writes.push(s.armedTraps), (current = { ...current, status: s })),
    },
    log,
    now: () => now,
  });
  const key = 'kivebpf-system/p' as PolicyKey;
  assert.equal(await reconcile(key, signal), undefined);
  // Each new KiveData wakes it: inside the interval nothing is written, it comes back later.
  for (let i = 2; i <= 5; i++) {
    data.push(kd(`d${i}`, { policyName: 'p' }));
    now += 100;
    const r = await reconcile(key, signal);
    assert.equal((r as { requeueAfterMs: number }).requeueAfterMs, 1_000 - 100 * (i - 1));
  }
  assert.deepEqual(writes, [1], 'one write so far, not one per KiveData');
  now += 600;
  await reconcile(key, signal);
  assert.deepEqual(writes, [1, 5], 'the interval over: the latest count');
});

/** A kernel GC with a grace of 1 s over CACHES; `at(ms)` runs it at that time, `done` records every write. */
function kernelGc(caches: Parameters<typeof createKernelGcReconciler>[0]['caches']) {
  let now = 0;
  const done: string[] = [];
  const reconcile = createKernelGcReconciler({
    caches,
    deleteKiveData: async (_ns, name) => void done.push(name),
    removeNodeReport: async (p, r) => void done.push(`${p.metadata.name}:${r.node}`),
    deleteLoaderLease: async (kernel, rv) => void done.push(`lease ${kernel}@${rv}`),
    log,
    now: () => now,
    kernelGraceMs: 1000,
  });
  return { done, at: (ms: number) => ((now = ms), reconcile(KERNELS, signal)) };
}

test('kernel GC: a kernel whose loader Lease stops changing loses its KiveData after the grace, a renewing one never', async () => {
  const all = [kd('a', { kernelId: 'alive' }), kd('b', { kernelId: 'dead' })];
  let aliveRv = 1;
  const gc = kernelGc({ allKiveData: () => all.filter((d) => !gc.done.includes(d.metadata.name)), allPolicies: () => [], loaderLeases: () => new Map([['alive', String(aliveRv)]]) });
  assert.deepEqual(await gc.at(0), { requeueAfterMs: 1000 }, 'comes back within the grace');
  aliveRv++;
  await gc.at(600);
  assert.deepEqual(gc.done, [], 'within the grace period nothing is collected');
  aliveRv++; // the live kernel's loader keeps renewing
  await gc.at(1200);
  assert.deepEqual(gc.done, ['b'], 'only the kernel whose lease stopped changing');
  aliveRv++;
  await gc.at(5000);
  assert.deepEqual(gc.done, ['b'], 'renewed again: however long since the start, it lives');
  await gc.at(6100);
  assert.deepEqual(gc.done, ['b', 'a', 'lease alive@4'], 'then silent for longer than the grace: collected, its Lease last, at the version last seen');
});

test('kernel GC: the node reports of a kernel that stopped are removed from every policy, a live node\'s stay', async () => {
  let aliveRv = 1;
  const gone: NodeReport = { node: 'n-gone', kernelId: 'dead', matchedContainers: 1, armedTraps: 1 };
  const live: NodeReport = { node: 'n-live', kernelId: 'alive', matchedContainers: 1, armedTraps: 1 };
  const policies = [policy({ name: 'p1' }, { nodes: [live, gone] }), policy({ name: 'p2' }, { nodes: [gone] }), policy({ name: 'p3' })];
  // No KiveData at all: a node that reported only problems or pending containers.
  const gc = kernelGc({ allKiveData: () => [], allPolicies: () => policies, loaderLeases: () => new Map([['alive', String(aliveRv)], ['dead', '7']]) });
  await gc.at(0);
  aliveRv++;
  await gc.at(900);
  assert.deepEqual(gc.done, [], 'within the grace');
  aliveRv++;
  await gc.at(1100);
  assert.deepEqual(gc.done, ['p1:n-gone', 'p2:n-gone', 'lease dead@7']);
});

test('kernel GC: a loader Lease nothing else names (a node that rebooted with no traps) is deleted after the grace; a renewing one stays', async () => {
  let aliveRv = 1;
  const leases = () => new Map([['alive', String(aliveRv)], ['dead', '9']].filter(([k]) => !gc.done.includes(`lease ${k}@9`)) as Array<[string, string]>);
  const gc = kernelGc({ allKiveData: () => [], allPolicies: () => [], loaderLeases: leases });
  await gc.at(0);
  aliveRv++;
  await gc.at(900);
  assert.deepEqual(gc.done, [], 'within the grace');
  aliveRv++;
  await gc.at(1100);
  assert.deepEqual(gc.done, ['lease dead@9'], 'only the silent one, with the version it was seen at');
  aliveRv++;
  await gc.at(5000);
  assert.deepEqual(gc.done, ['lease dead@9'], 'once: it is gone from the cache');
});
