import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlert, type TrapContext } from '../../src/alerts/build.ts';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';

const trap: TrapContext = {
  policyName: 'kive-sample-policy',
  path: '/secret.txt',
  customMetadata: { severity: 'critical' },
  podName: 'nginx-pod',
  podNamespace: 'default',
  containerId: 'containerd://0c37',
  containerName: 'nginx',
};
const event = { ino: 16256084n, dev: 3, mask: 36, op: 'open', pid: 176928, tgid: 176928, uid: 0, gid: 0, comm: 'cat' };
const proc = { binary: '/usr/bin/cat', cwd: '/', arguments: '/secret.txt -' };
const env = { kernelId: '2c147a95-23e5-4f99-a2de-67d5e9fdb502', nodeName: 'kive-worker' };

test('builds the design document alert, field for field', () => {
  const alert = buildAlert(trap, event, proc, env, Date.UTC(2025, 7, 2, 16, 51, 19));
  assertKiveAlertV1(alert);
  const json = JSON.parse(JSON.stringify(alert));
  assert.equal(json['kive-alert-version'], 'v1');
  assert.equal(json['kive-policy-name'], 'kive-sample-policy');
  assert.equal(json.timestamp, '2025-08-02T16:51:19.000Z');
  assert.deepEqual(
    { path: json.metadata.path, inode: json.metadata.inode, mask: json.metadata.mask, kid: json.metadata['kernel-id'] },
    { path: '/secret.txt', inode: 16256084, mask: 36, kid: env.kernelId },
  );
  assert.deepEqual(json['custom-metadata'], { severity: 'critical' });
  assert.deepEqual(json.pod, { name: 'nginx-pod', namespace: 'default', container: { id: 'containerd://0c37', name: 'nginx' } });
  assert.deepEqual(json.node, { name: 'kive-worker' });
  assert.equal(json.process.binary, '/usr/bin/cat');
  assert.equal(json.process.arguments, '/secret.txt -');
});

test('an inode beyond 2^53 is written with exact digits', () => {
  const big = (1n << 63n) + 12345n; // overlayfs xino sets high bits
  const line = JSON.stringify(buildAlert(trap, { ...event, ino: big }, proc, env, 0));
  assert.match(line, new RegExp(`"inode":${big.toString()},`));
});

test('a missing custom metadata map still yields an object, and the trap is not aliased', () => {
  const alert = buildAlert({ ...trap, customMetadata: {} }, event, proc, env, 0);
  assert.deepEqual(alert['custom-metadata'], {});
  const alert2 = buildAlert(trap, event, proc, env, 0);
  alert2['custom-metadata'].x = 'y';
  assert.equal(trap.customMetadata.x, undefined);
});

test('the hot-path serializer writes exactly JSON.stringify(buildAlert(...)), byte for byte', async () => {
  const { serializeAlert } = await import('../../src/alerts/serialize.ts');
  const traps: TrapContext[] = [
    trap,
    { ...trap, customMetadata: {}, nodeName: 'other-node', path: '/we"ird\\path\n', podName: 'ünïcode', callback: 'http://x' },
    { ...trap, policyName: '', containerId: '', containerName: '', podName: '', podNamespace: '' },
  ];
  const events = [event, { ...event, ino: (1n << 63n) + 1n, dev: 0, mask: 0, op: 'exec', comm: 'a"b' }, { ...event, ino: 0n, pid: 1, tgid: 2, uid: 65534, gid: 65534 }, { ...event, repeats: 0 }, { ...event, repeats: 999_999 }];
  const procs = [
    proc,
    { binary: '', cwd: '', arguments: '' },
    { binary: '/bin/x y', cwd: '/tmp/\u0001', arguments: '--a="1"' },
    { ...proc, truncated: ['binary', 'cwd', 'arguments'] as const },
    { ...proc, truncated: [] },
    { ...proc, accessor: { host: true, 'cgroup-id': '1' } as const },
    { ...proc, truncated: ['cwd'] as const, accessor: { host: false, 'cgroup-id': '18446744073709551615', pod: { name: 'p"x', namespace: 'ns' }, container: { id: 'containerd://a', name: '' } } as const },
  ];
  const envs = [env, { kernelId: 'k', nodeName: '' }];
  for (const t of traps) for (const e of events) for (const p of procs) for (const v of envs) for (const ms of [0, 1_795_240_425_547, 1_795_240_425_547]) {
    assert.equal(serializeAlert(t, e, p, v, ms), JSON.stringify(buildAlert(t, e, p, v, ms)));
  }
});

test('truncated process fields are listed in process.truncated, and only when there are any', () => {
  const cut = buildAlert(trap, event, { ...proc, truncated: ['cwd', 'arguments'] }, env, 0);
  assertKiveAlertV1(cut);
  assert.deepEqual(cut.process.truncated, ['cwd', 'arguments']);
  assert.ok(!('truncated' in buildAlert(trap, event, proc, env, 0).process));
  assert.ok(!('truncated' in buildAlert(trap, event, { ...proc, truncated: [] }, env, 0).process));
});

test('repeats folded by the kernel appear as metadata.repeats, and only when there are any', () => {
  const flood = buildAlert(trap, { ...event, repeats: 41 }, proc, env, 0);
  assertKiveAlertV1(flood);
  assert.equal(flood.metadata.repeats, 41);
  assert.ok(!('repeats' in buildAlert(trap, { ...event, repeats: 0 }, proc, env, 0).metadata));
  assert.ok(!('repeats' in buildAlert(trap, event, proc, env, 0).metadata));
});

test('the accessor is an extra top-level field; the v1 pod stays the file\'s', async () => {
  const { AccessorIndex } = await import('../../src/alerts/accessor.ts');
  const r = 'e'.repeat(64);
  const index = new AccessorIndex({
    scan: () => new Map([[1n, '/'], [42n, `/kubepods.slice/kubepods-pod9.slice/cri-containerd-${r}.scope`], [43n, `/k8s.io/${'f'.repeat(64)}`]]),
    podContainer: (id) => (id === r ? { podName: 'reader', podNamespace: 'team-a', containerId: `containerd://${r}`, containerName: 'sh' } : undefined),
  });
  const inContainer = buildAlert(trap, event, { ...proc, accessor: index.of(42n) }, env, 0);
  assertKiveAlertV1(inContainer);
  assert.deepEqual(inContainer.accessor, { host: false, 'cgroup-id': '42', pod: { name: 'reader', namespace: 'team-a' }, container: { id: `containerd://${r}`, name: 'sh' } });
  assert.deepEqual(inContainer.pod, buildAlert(trap, event, proc, env, 0).pod, 'pod unchanged');
  const host = buildAlert(trap, event, { ...proc, accessor: index.of(1n) }, env, 0);
  assert.deepEqual(host.accessor, { host: true, 'cgroup-id': '1' });
  assert.deepEqual(buildAlert(trap, event, { ...proc, accessor: index.of(43n) }, env, 0).accessor, { host: false, 'cgroup-id': '43', container: { id: 'f'.repeat(64), name: '' } }, 'a container no pod owns');
  assert.deepEqual(buildAlert(trap, event, { ...proc, accessor: index.of(99n) }, env, 0).accessor, { 'cgroup-id': '99', 'unknown-reason': 'cgroup id not found in the cgroup v2 tree' }, 'not placed: unknown, not host');
  assert.equal('accessor' in buildAlert(trap, event, proc, env, 0), false, 'no mapping, no field');
});
