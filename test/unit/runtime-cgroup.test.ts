import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { cgroupIdOfPid, cgroupPathNamesContainer, findPidByCgroup, parseCgroupFile, parseStatStartTime } from '../../src/runtime/cgroup.ts';
import { parseContainerId } from '../../src/runtime/container-id.ts';

const ID = 'da9e46ae1873ec463c9dafd08d2be762867e92b740b5c5b4534c6ad0c270d1e5';

test('parseCgroupFile reads v1 and v2 lines', () => {
  const lines = parseCgroupFile(`12:pids:/kubepods/besteffort/pod1/${ID}\n4:cpu,cpuacct:/k8s.io/${ID}\n1:name=systemd:/x\n0::/\n\ngarbage\n`);
  assert.deepEqual(lines.map((l) => [l.hierarchy, l.controllers, l.path]), [
    [12, ['pids'], `/kubepods/besteffort/pod1/${ID}`],
    [4, ['cpu', 'cpuacct'], `/k8s.io/${ID}`],
    [1, ['name=systemd'], '/x'],
    [0, [], '/'],
  ]);
});

test('cgroupPathNamesContainer knows the runtimes\' path shapes', () => {
  const yes = [
    `/kubepods/burstable/pod0a1b/${ID}`, // cgroupfs driver, containerd
    `/kubepods/besteffort/pod0a1b/crio-${ID}`, // cgroupfs driver, CRI-O
    `/k8s.io/${ID}`, // containerd without a cgroup parent
    `/default/${ID}`, // ctr
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b.slice/cri-containerd-${ID}.scope`,
    `/kubepods.slice/kubepods-pod0a1b.slice/crio-${ID}.scope`,
    `/system.slice/docker-${ID}.scope`,
    `/machine.slice/libpod-${ID}.scope/container`,
    `/system.slice/docker-node1.scope/kubelet.slice/kubelet-kubepods.slice/cri-containerd-${ID}.scope`, // kind
    `/../../kubepods.slice/cri-containerd-${ID}.scope`, // seen from another cgroup namespace
    `/kubepods/pod0a1b/${ID}/nested`, // a sub-cgroup made inside the container
  ];
  for (const p of yes) assert.ok(cgroupPathNamesContainer(p, ID), p);
  const no = [
    `/kubepods.slice/kubepods-pod0a1b.slice/crio-conmon-${ID}.scope`, // CRI-O's monitor, outside the container
    `/kubepods/pod0a1b/${ID}0`, // another id with ours as prefix
    `/kubepods/pod0a1b/x${ID}`,
    `/k8s.io/${ID.slice(0, 12)}`, // a short id is not ours
    '/', '/user.slice', '',
  ];
  for (const p of no) assert.ok(!cgroupPathNamesContainer(p, ID), p);
});

test('parseStatStartTime copes with spaces and parentheses in comm', () => {
  const tail = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21';
  assert.equal(parseStatStartTime(`123 (sleep) ${tail}`), 424242n);
  assert.equal(parseStatStartTime(`123 (a) b (c)) ${tail}`), 424242n);
  assert.equal(parseStatStartTime('123 (x) S 1'), undefined);
  assert.equal(parseStatStartTime('garbage'), undefined);
});

function fakeProc(procs: Array<{ pid: number; cgroup: string; start: number; comm?: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'kive-proc-'));
  for (const p of procs) {
    mkdirSync(join(root, String(p.pid)));
    writeFileSync(join(root, String(p.pid), 'cgroup'), p.cgroup);
    const fields = ['S', '1', ...Array.from({ length: 17 }, (_, i) => String(i)), String(p.start), '0'];
    writeFileSync(join(root, String(p.pid), 'stat'), `${p.pid} (${p.comm ?? 'sh'}) ${fields.join(' ')}\n`);
  }
  mkdirSync(join(root, 'self')); // non-numeric entries are ignored
  mkdirSync(join(root, '999')); // a process that exited between readdir and read
  return root;
}

test('findPidByCgroup picks the earliest-started process of the container', async (t) => {
  const root = fakeProc([
    { pid: 50, cgroup: `0::/kubepods.slice/crio-conmon-${ID}.scope\n`, start: 1 }, // conmon: not in the container
    { pid: 300, cgroup: `4:memory:/kubepods/pod1/${ID}\n0::/\n`, start: 900 }, // exec'd later
    { pid: 7000, cgroup: `4:memory:/kubepods/pod1/${ID}\n0::/\n`, start: 500 }, // init: high pid after wrap, started first
    { pid: 20, cgroup: '0::/system.slice/containerd.service\n', start: 2 },
  ]);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await findPidByCgroup(ID, { procRoot: root }), 7000);
  assert.equal(await findPidByCgroup('ffff', { procRoot: root }), undefined);
});

test('findPidByCgroup reports an unreadable proc root', async () => {
  await assert.rejects(findPidByCgroup(ID, { procRoot: '/nonexistent/kive-proc' }), (e) => isKiveError(e, 'KIVE_RUNTIME'));
});

test('parseContainerId strips the Pod status scheme and refuses path-like ids', () => {
  assert.deepEqual(parseContainerId(`containerd://${ID}`), { runtime: 'containerd', id: ID });
  assert.deepEqual(parseContainerId(`cri-o://${ID}`), { runtime: 'cri-o', id: ID });
  assert.deepEqual(parseContainerId(ID), { runtime: undefined, id: ID });
  assert.deepEqual(parseContainerId('kive-test.1_a'), { runtime: undefined, id: 'kive-test.1_a' });
  for (const bad of ['', 'containerd://', 'containerd://../etc', 'a/b', 'a b', '-a', 'a..b', `x://${'a'.repeat(300)}`]) {
    assert.throws(() => parseContainerId(bad), (e) => isKiveError(e, 'KIVE_RUNTIME'), JSON.stringify(bad));
  }
});

test('cgroupIdOfPid is the inode of the process\'s cgroup v2 directory; v1 and escaped paths give undefined', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-cgid-'));
  try {
    const cg = join(dir, 'cg');
    mkdirSync(join(cg, 'kubepods', 'pod1', 'abc'), { recursive: true });
    const proc = (pid: number, text: string) => {
      mkdirSync(join(dir, 'proc', String(pid)), { recursive: true });
      writeFileSync(join(dir, 'proc', String(pid), 'cgroup'), text);
    };
    proc(1, '12:memory:/x\n0::/kubepods/pod1/abc\n');
    proc(2, '12:memory:/kubepods/pod1/abc\n');
    proc(3, '0::/../../kubepods/pod1/abc\n');
    const opts = { procRoot: join(dir, 'proc'), cgroupRoot: cg };
    assert.equal(await cgroupIdOfPid(1, opts), statSync(join(cg, 'kubepods', 'pod1', 'abc'), { bigint: true }).ino);
    assert.equal(await cgroupIdOfPid(2, opts), undefined, 'cgroup v1 only');
    assert.equal(await cgroupIdOfPid(3, opts), undefined, 'outside the reader\'s cgroup namespace');
    assert.equal(await cgroupIdOfPid(4, opts), undefined, 'gone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
