// The accessor index: a cgroup id placed in the cgroup v2 tree, the path read for a
// container, the container named by the node's pods; and the tree scan itself, on a
// directory tree standing in for the cgroup file system.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { AccessorIndex, podContainersById } from '../../src/alerts/accessor.ts';
import { cgroup2MountPoint, cgroup2Under, containerIdOfCgroupPath, scanCgroupTree } from '../../src/runtime/cgroup-tree.ts';

const ID = 'a'.repeat(64);

test('container ids in every runtime shape; nested cgroups belong to their container; host paths to none', () => {
  assert.equal(containerIdOfCgroupPath(`/kubepods/burstable/pod1/${ID}`), ID);
  assert.equal(containerIdOfCgroupPath(`/kubepods.slice/kubepods-pod1.slice/cri-containerd-${ID}.scope`), ID);
  assert.equal(containerIdOfCgroupPath(`/kubepods/crio-${ID}`), ID);
  assert.equal(containerIdOfCgroupPath(`/system.slice/docker-${ID}.scope/init.scope`), ID, 'a cgroup under the container');
  assert.equal(containerIdOfCgroupPath(`/machine.slice/libpod-${ID}.scope/container`), ID);
  assert.equal(containerIdOfCgroupPath('/system.slice/ssh.service'), undefined);
  assert.equal(containerIdOfCgroupPath(`/kubepods/crio-conmon-${ID}.scope`), undefined, "CRI-O's monitor is outside the container");
  assert.equal(containerIdOfCgroupPath('/'), undefined);
  assert.equal(containerIdOfCgroupPath('/default/my-ctr-box'), undefined, 'a free-form id is a container only if known');
  assert.equal(containerIdOfCgroupPath('/default/my-ctr-box', (s) => s === 'my-ctr-box'), 'my-ctr-box');
});

test('the cgroup2 mount point from mountinfo: pure v2, hybrid, none; escaped characters', () => {
  const v2 = '30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate';
  const hybrid = ['28 23 0:24 / /sys/fs/cgroup ro - tmpfs tmpfs ro', '29 28 0:25 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw', '30 28 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'].join('\n');
  assert.equal(cgroup2MountPoint(v2), '/sys/fs/cgroup');
  assert.equal(cgroup2MountPoint(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2MountPoint('28 23 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'), undefined);
  assert.equal(cgroup2MountPoint('29 28 0:25 / /host\\040cg rw - cgroup2 cgroup2 rw'), '/host cg');
});

test('the scan maps each directory inode to its path, within the depth bound', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kive-cgtree-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'kubepods/pod1', ID), { recursive: true });
  mkdirSync(join(root, 'system.slice/ssh.service'), { recursive: true });
  const paths = scanCgroupTree(root);
  assert.equal(paths.get(statSync(root, { bigint: true }).ino), '/');
  assert.equal(paths.get(statSync(join(root, 'kubepods/pod1', ID), { bigint: true }).ino), `/kubepods/pod1/${ID}`);
  assert.equal(paths.get(statSync(join(root, 'system.slice/ssh.service'), { bigint: true }).ino), '/system.slice/ssh.service');
  assert.equal(paths.size, 6);
  assert.equal(scanCgroupTree(root, { maxDepth: 1 }).size, 3, 'root and its two children');
  assert.equal(scanCgroupTree(join(root, 'missing')).size, 0);
});

test('an unknown id rescans (rate-limited); one still missing is unknown, never the host', () => {
  let now = 0;
  let tree = new Map<bigint, string>([[1n, '/']]);
  const index = new AccessorIndex({ scan: () => tree, now: () => now, minRescanMs: 500 });
  assert.deepEqual(index.of(1n), { host: true, 'cgroup-id': '1' });
  assert.equal(index.scans, 1);
  tree = new Map([[1n, '/'], [7n, `/k8s.io/${ID}`]]);
  now = 100;
  assert.deepEqual(index.of(7n), { 'cgroup-id': '7', 'unknown-reason': 'cgroup id not found in the cgroup v2 tree' }, 'too soon for another scan');
  now = 600;
  assert.deepEqual(index.of(7n), { host: false, 'cgroup-id': '7', container: { id: ID, name: '' } }, 'the new container after a rescan');
  assert.equal(index.scans, 2);
  assert.deepEqual(index.of(1n), { host: true, 'cgroup-id': '1' });
  assert.equal(index.scans, 2, 'known ids do not scan');
  const none = new AccessorIndex({ scan: () => undefined });
  assert.deepEqual(none.of(1n), { 'cgroup-id': '1', 'unknown-reason': 'no cgroup v2 hierarchy to place the cgroup id in' });
});

test('pods name their containers by bare runtime id, init and ephemeral containers too', () => {
  const byId = podContainersById([
    { metadata: { name: 'web-1', namespace: 'default' }, status: { containerStatuses: [{ name: 'app', containerID: `containerd://${ID}` }, { name: 'waiting' }], initContainerStatuses: [{ name: 'init', containerID: 'cri-o://b' }] } },
    { metadata: { name: 'debug', namespace: 'team-a' }, status: { ephemeralContainerStatuses: [{ name: 'dbg', containerID: 'containerd://c' }] } },
  ]);
  assert.deepEqual(byId.get(ID), { podName: 'web-1', podNamespace: 'default', containerId: `containerd://${ID}`, containerName: 'app' });
  assert.equal(byId.get('b')?.containerName, 'init');
  assert.equal(byId.get('c')?.podNamespace, 'team-a');
  assert.equal(byId.size, 3);
});

test('--cgroup-root: a v2 root as given; a hybrid host\'s /sys/fs/cgroup means its unified child', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kive-cgroot-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'v2'));
  writeFileSync(join(root, 'v2/cgroup.controllers'), '');
  mkdirSync(join(root, 'hybrid/unified'), { recursive: true });
  writeFileSync(join(root, 'hybrid/unified/cgroup.controllers'), '');
  assert.equal(cgroup2Under(join(root, 'v2')), join(root, 'v2'));
  assert.equal(cgroup2Under(join(root, 'hybrid')), join(root, 'hybrid/unified'));
  assert.equal(cgroup2Under(join(root, 'none')), join(root, 'none'));
});
