// Exclusions: which accesses a trap does not alert on, and that each one is counted.
// Every rule fails closed: unknown accessors, cut-short binaries, container processes
// for a binary rule, another namespace's container, a time outside the window.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Accessor, ProcessDetails, TrapContext } from '../../src/alerts/build.ts';
import { AlertPipeline } from '../../src/alerts/pipeline.ts';
import { ProcessCache } from '../../src/alerts/process.ts';
import { createDiscoverReconciler } from '../../src/controllers/discover.ts';
import type { KiveData, KivePolicy } from '../../src/api/v1/types.ts';
import { exclusionOf } from '../../src/traps/exclude.ts';

const trap: TrapContext = {
  policyName: 'p', path: '/token', customMetadata: {}, podName: 'web-1', podNamespace: 'team-a', containerId: 'containerd://x', containerName: 'app',
  exclude: { binaries: ['/usr/bin/koney-verify'], containers: ['koney'], plantingWindowSeconds: 10 },
  plantedAtMs: 1_000_000,
};
const host: Accessor = { host: true, 'cgroup-id': '1' };
const inPod = (container: string, namespace = 'team-a'): Accessor => ({ host: false, 'cgroup-id': '9', pod: { name: 'web-1', namespace }, container: { id: 'containerd://y', name: container } });
const proc = (binary: string, accessor?: Accessor, truncated?: ProcessDetails['truncated']): ProcessDetails => ({ binary, cwd: '/', arguments: '', ...(accessor ? { accessor } : {}), ...(truncated ? { truncated } : {}) });
const later = 1_000_000 + 60_000;

test('binary: host processes only, exact path, never a cut-short one or an unknown accessor', () => {
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify', host), later), 'binary');
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify', inPod('app')), later), undefined, 'inside a container anyone can name a binary so');
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify', { 'cgroup-id': '5', 'unknown-reason': 'x' }), later), undefined);
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify'), later), undefined, 'no accessor known');
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify', host, ['binary']), later), undefined, 'cut short');
  assert.equal(exclusionOf(trap, proc('/usr/bin/koney-verify2', host), later), undefined);
});

test("container: by the accessor's container name, in a pod of the file's namespace", () => {
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('koney')), later), 'container');
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('koney', 'team-b')), later), undefined, 'another namespace');
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('app')), later), undefined);
  assert.equal(exclusionOf(trap, proc('/bin/cat', { host: false, 'cgroup-id': '3', container: { id: 'abc', name: '' } }), later), undefined, 'a container no pod owns');
});

test('planting window: from the planting time for the window, nothing before or after', () => {
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('app')), 1_000_000), 'planting-window');
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('app')), 1_010_000), 'planting-window');
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('app')), 1_010_001), undefined);
  assert.equal(exclusionOf(trap, proc('/bin/cat', inPod('app')), 999_999), undefined, 'before the file existed');
  const { plantedAtMs: _, ...notPlanted } = trap;
  assert.equal(exclusionOf(notPlanted, proc('/bin/cat', inPod('app')), 1_000_000), undefined, 'Kive did not plant it');
});

test('the pipeline counts each excluded (event, trap) and alerts on the others', () => {
  const lines: string[] = [];
  const excluded: string[] = [];
  const alerted: string[] = [];
  const plain: TrapContext = { ...trap, policyName: 'q', exclude: undefined } as TrapContext;
  delete (plain as { exclude?: unknown }).exclude;
  const pipeline = new AlertPipeline({
    env: { kernelId: 'k', nodeName: 'n' },
    trapsFor: () => [trap, plain],
    processes: new ProcessCache({ fs: { readlink: () => { throw new Error('gone'); }, readFile: () => { throw new Error('gone'); } }, accessorOf: () => inPod('app') }),
    out: { emit: (line) => void lines.push(line), flush() {} },
    wallClockMs: () => 1_005_000,
    onAlert: (t) => void alerted.push(t.policyName),
    onExcluded: (t, reason) => void excluded.push(`${t.policyName}:${reason}`),
  });
  const event = { ino: 1n, dev: 1, mask: 4, op: 'permission' as const, pid: 5, tgid: 5, uid: 0, gid: 0, comm: 'cat', tsNs: 1n, cgroupId: 9n };
  pipeline.handle([event, { ...event, tsNs: 2n }]);
  assert.deepEqual(excluded, ['p:planting-window', 'p:planting-window']);
  assert.deepEqual(alerted, ['q', 'q']);
  assert.equal(pipeline.excluded, 2);
  assert.equal(pipeline.alerts, 2);
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => JSON.parse(l)['kive-policy-name'] === 'q'));
});

test('discover: plantedAt on the first creation only; kept for the same file; a recreated file opens no window', async () => {
  const policy: KivePolicy = {
    apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name: 'p', namespace: 'ns', generation: 1 },
    spec: { traps: [{ path: '/token', create: true, exclude: { plantingWindowSeconds: 5 }, matchAny: [{ containerName: 'app' }] }] },
  };
  const pod = { metadata: { name: 'a', namespace: 'ns', uid: 'u' }, spec: { containers: [{ name: 'app' }] }, status: { containerStatuses: [{ name: 'app', containerID: 'containerd://1', state: { running: {} } }] } };
  let existing: KiveData[] = [];
  const applied: KiveData[] = [];
  let file = { ino: 10n, dev: 7, created: true };
  const reconcile = createDiscoverReconciler({
    nodeName: 'n1', kernelId: 'k1', namespace: 'kivebpf-system',
    caches: { policy: () => policy, pods: () => [pod], kiveDataOf: () => existing },
    writer: { apply: async (d) => void applied.push(d), delete: async () => {}, reportStatus: async () => {} },
    locate: async () => 1,
    resolve: () => file,
    log: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } } as never,
    now: () => Date.parse('2026-12-02T10:00:00.000Z'),
  });
  await reconcile('ns/p');
  assert.equal(applied.at(-1)?.spec.plantedAt, '2026-12-02T10:00:00.000Z');
  assert.deepEqual(applied.at(-1)?.spec.exclude, { plantingWindowSeconds: 5 });
  // Before the cache has the KiveData: the same planting time, from memory.
  file = { ino: 10n, dev: 7, created: false };
  await reconcile('ns/p');
  assert.equal(applied.at(-1)?.spec.plantedAt, '2026-12-02T10:00:00.000Z');
  existing = [applied.at(-1)!];
  // Someone deleted it; Kive creates it again: a new inode, and no window.
  file = { ino: 11n, dev: 7, created: true };
  await reconcile('ns/p');
  assert.equal(applied.at(-1)?.spec.inode, '11');
  assert.equal(applied.at(-1)?.spec.plantedAt, undefined);
});

test("a tenant's trap never names another namespace's pod as the accessor; its own namespace's and cluster policies' it does", async () => {
  const { tenantView } = await import('../../src/alerts/build.ts');
  const other = proc('/bin/cat', inPod('app', 'team-b'));
  const tenant = { ...trap, tenantNamespace: 'team-a' };
  const seen = tenantView(tenant, other);
  assert.deepEqual(seen.accessor, { 'cgroup-id': '9', 'unknown-reason': 'a container of another namespace, not shown to a policy of namespace team-a' });
  assert.equal(tenantView(tenant, other), seen, 'one copy per details object');
  assert.equal(JSON.stringify(seen).includes('web-1'), false);
  assert.equal(exclusionOf({ ...tenant, plantedAtMs: undefined } as TrapContext, seen, later), undefined, 'an undisclosed accessor is never excluded');
  const own = proc('/bin/cat', inPod('app', 'team-a'));
  assert.equal(tenantView(tenant, own), own);
  assert.equal(tenantView(trap, other), other, 'a cluster policy (no tenant namespace) sees every namespace');
  assert.equal(tenantView(tenant, proc('/bin/cat', host)).accessor?.host, true);
});
