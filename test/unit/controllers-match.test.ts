import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KivePolicy } from '../../src/api/v1/types.ts';
import { buildKiveData, fileOf, trapContextOf } from '../../src/controllers/kivedata.ts';
import { blockMatches, containerNameMatcher, forbiddenNamespaces, namespaceAllowed, podIsFinished, selectContainers, type Pod } from '../../src/controllers/match.ts';
import { kiveDataName, labelValue, trapId } from '../../src/controllers/naming.ts';

const pod: Pod = {
  metadata: { name: 'nginx-pod', namespace: 'default', uid: 'uid-1', labels: { 'security-level': 'high', app: 'web' } },
  spec: { nodeName: 'n1', containers: [{ name: 'nginx' }, { name: 'sidecar' }] },
  status: {
    phase: 'Running',
    podIP: '192.168.0.3',
    podIPs: [{ ip: '192.168.0.3' }, { ip: 'fd00::3' }],
    containerStatuses: [
      { name: 'nginx', containerID: 'containerd://aaa', ready: true, state: { running: {} } },
      { name: 'sidecar', containerID: '', ready: false, state: { waiting: {} } },
    ],
  },
};

test('match items inside a block are AND-ed', () => {
  assert.equal(blockMatches({ pod: 'nginx-pod', namespace: 'default' }, pod, 'nginx'), true);
  assert.equal(blockMatches({ pod: 'nginx-pod', namespace: 'other' }, pod, 'nginx'), false);
  assert.equal(blockMatches({ ip: 'fd00::3' }, pod, 'nginx'), true);
  assert.equal(blockMatches({ ip: '10.0.0.1' }, pod, 'nginx'), false);
  assert.equal(blockMatches({ matchLabels: { 'security-level': 'high' } }, pod, 'nginx'), true);
  assert.equal(blockMatches({ matchLabels: { 'security-level': 'high', app: 'db' } }, pod, 'nginx'), false);
});

test('blocks are OR-ed; the design document sample selects every container of nginx-pod', () => {
  const trap = {
    path: '/secret.txt',
    matchAny: [
      { pod: 'nginx-pod', namespace: 'default', ip: '192.168.0.3', containerName: 'regex: .*', matchLabels: { 'security-level': 'high' } },
    ],
  };
  const selected = selectContainers(trap, pod);
  assert.deepEqual(selected.map((c) => [c.containerName, c.containerId, c.running]), [
    ['nginx', 'containerd://aaa', true],
    ['sidecar', undefined, false],
  ]);
  assert.deepEqual(selectContainers({ path: '/x', matchAny: [{ pod: 'nope' }, { containerName: 'sidecar' }] }, pod).map((c) => c.containerName), ['sidecar']);
});

test('a trap without matchAny selects nothing in a cluster', () => {
  assert.deepEqual(selectContainers({ path: '/x' }, pod), []);
});

test('containerName: exact, regex (RE2, unanchored like Go), glob (whole name)', () => {
  assert.equal(containerNameMatcher('nginx')('nginx'), true);
  assert.equal(containerNameMatcher('nginx')('nginx2'), false);
  assert.equal(containerNameMatcher('regex: ng')('nginx'), true);
  assert.equal(containerNameMatcher('regex: ^ng$')('nginx'), false);
  assert.equal(containerNameMatcher('glob: ngi*')('nginx'), true);
  assert.equal(containerNameMatcher('glob: ngi')('nginx'), false);
});

test('a pod in its grace period keeps its running containers selected until they exit', () => {
  const trap = { path: '/x', matchAny: [{ pod: 'nginx-pod' }] };
  const deleting: Pod = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  // nginx still runs: selected and running; sidecar never started and never will: left out.
  assert.deepEqual(selectContainers(trap, deleting).map((c) => [c.containerName, c.running]), [['nginx', true]]);
  assert.equal(podIsFinished(deleting), false);
  // Its containers exited: nothing selected, the pod is finished.
  const exited: Pod = {
    ...deleting,
    status: { ...deleting.status, containerStatuses: [{ name: 'nginx', containerID: 'containerd://aaa', state: { terminated: {} } }, { name: 'sidecar', state: { waiting: {} } }] },
  };
  assert.deepEqual(selectContainers(trap, exited), []);
  assert.equal(podIsFinished(exited), true);
});

test('a pod that succeeded or failed selects nothing and is finished', () => {
  for (const phase of ['Succeeded', 'Failed']) {
    const done: Pod = { ...pod, status: { ...pod.status, phase } };
    assert.deepEqual(selectContainers({ path: '/x', matchAny: [{ pod: 'nginx-pod' }] }, done), []);
    assert.equal(podIsFinished(done), true);
  }
  assert.equal(podIsFinished(pod), false);
});

const policy: KivePolicy = {
  apiVersion: 'kivebpf.san7o.github.io/v1',
  kind: 'KivePolicy',
  metadata: { name: 'p', namespace: 'kivebpf-system' },
  spec: { alertVersion: 'v1', traps: [{ path: '/secret.txt', matchAny: [{ pod: 'nginx-pod' }], metadata: { severity: 'critical' } }] },
};

test('trap ids: stable under field order, different for different traps or policies', () => {
  const a = trapId(policy, { path: '/a', metadata: { x: '1', y: '2' } });
  assert.equal(a, trapId(policy, { metadata: { y: '2', x: '1' }, path: '/a' }));
  assert.notEqual(a, trapId(policy, { path: '/b', metadata: { x: '1', y: '2' } }));
  assert.notEqual(a, trapId({ metadata: { name: 'q', namespace: 'kivebpf-system' } }, { path: '/a', metadata: { x: '1', y: '2' } }));
  assert.match(a, /^[0-9a-f]{32}$/);
});

test('KiveData names: two traps on one file in one container do not collide; names are valid', () => {
  const n1 = kiveDataName('trap1', 'uid-1', 'nginx-pod', 'default', 'nginx');
  const n2 = kiveDataName('trap2', 'uid-1', 'nginx-pod', 'default', 'nginx');
  assert.notEqual(n1, n2);
  assert.equal(n1, kiveDataName('trap1', 'uid-1', 'nginx-pod', 'default', 'nginx'));
  const long = kiveDataName('t', 'u', 'p'.repeat(300), 'ns', 'c');
  assert.ok(long.length <= 253);
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.equal(labelValue('ok-value'), 'ok-value');
  assert.match(labelValue('x'.repeat(100)), /^h-[0-9a-f]{40}$/);
});

test('KiveData round trip: exact inode past 2^53, and the trap context alerts need', () => {
  const container = selectContainers(policy.spec.traps[0]!, pod)[0]!;
  const ino = (1n << 62n) + 7n;
  const data = buildKiveData({ policy, trap: policy.spec.traps[0]!, container, file: { ino, dev: 44 }, kernelId: 'k-1', nodeName: 'n1', namespace: 'kivebpf-system' });
  assert.deepEqual(fileOf(JSON.parse(JSON.stringify(data))), { ino, dev: 44 });
  assert.deepEqual(trapContextOf(data), {
    policyName: 'p',
    path: '/secret.txt',
    customMetadata: { severity: 'critical' },
    podName: 'nginx-pod',
    podNamespace: 'default',
    containerId: 'containerd://aaa',
    containerName: 'nginx',
    podUid: 'uid-1',
    nodeName: 'n1',
  });
  assert.equal(data.metadata.labels?.['kivebpf.san7o.github.io/kernel-id'], 'k-1');
});

test('namespace boundary: the operator\'s namespace selects anywhere, any other only itself', () => {
  assert.equal(namespaceAllowed('kivebpf-system', 'kivebpf-system', 'default'), true);
  assert.equal(namespaceAllowed('team-a', 'kivebpf-system', 'team-a'), true);
  assert.equal(namespaceAllowed('team-a', 'kivebpf-system', 'default'), false);
  assert.equal(namespaceAllowed('team-a', 'kivebpf-system', 'kivebpf-system'), false);
  assert.equal(namespaceAllowed(undefined, 'kivebpf-system', 'default'), false, 'a policy without a namespace selects nothing');
  const trap = { path: '/x', matchAny: [{ namespace: 'default' }, { namespace: 'team-a' }, { namespace: 'default', pod: 'p' }, { pod: 'q' }] };
  assert.deepEqual(forbiddenNamespaces(trap, 'team-a', 'kivebpf-system'), ['default']);
  assert.deepEqual(forbiddenNamespaces(trap, 'kivebpf-system', 'kivebpf-system'), []);
});
