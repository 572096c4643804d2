// src/runtime against real containers: a private containerd runs one container made
// with `ctr run --rootfs` (unknown to CRI) and one CRI pod container (overlayfs rootfs).
// Needs root, containerd, runc and busybox-static; no API server. The host's /etc/shadow
// is only stat'ed and hashed, never opened for writing.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { userToKernelDev } from '../../src/kernel/dev.ts';
import type { CriClient } from '../../src/runtime/cri.ts';
import { findContainerPid } from '../../src/runtime/pid.ts';
import { resolveInRoot, type ResolvedFile } from '../../src/runtime/resolve.ts';
import { containersUnavailable, startContainerd, type Containerd, type TestContainer } from '../helpers/containers.ts';

const HOST_SHADOW = '/etc/shadow';
const skip = containersUnavailable();

const idOf = (r: ResolvedFile) => ({ ino: r.ino, dev: r.dev });
function hostIdentity(p: string): { ino: bigint; dev: number } {
  const st = statSync(p, { bigint: true });
  return { ino: st.ino, dev: userToKernelDev(st.dev) };
}
function snapshot(p: string): string {
  const st = statSync(p, { bigint: true });
  const hash = createHash('sha256').update(readFileSync(p)).digest('hex');
  return JSON.stringify([st.ino, st.dev, st.mode, st.uid, st.size, st.mtimeNs, st.ctimeNs, st.nlink].map(String).concat(hash));
}

describe('runtime against real containers', { skip }, () => {
  let cd: Containerd;
  let cri: CriClient;
  let plain: TestContainer; // ctr run --rootfs, containerd namespace "default"
  let pod: TestContainer; // CRI, namespace "k8s.io"

  before(async () => {
    cd = await startContainerd();
    plain = await cd.runCtr();
    await cd.importImages();
    pod = await cd.runCri();
    cri = await cd.cri(5_000);
  });
  after(async () => {
    cri?.close();
    await cd?.stop();
  });

  // Identity of a path as stat(1) sees it INSIDE the container: an independent witness.
  async function statInside(c: TestContainer, path: string): Promise<{ ino: bigint; dev: number; mode: string }> {
    const ns = c.sandboxId ? 'k8s.io' : 'default';
    const out = await cd.ctr(['task', 'exec', '--exec-id', `stat-${Date.now()}-${Math.random().toString(36).slice(2)}`, c.id, '/bin/stat', '-c', '%i %d %a', path], ns);
    const [ino, dev, mode] = out.trim().split(' ');
    return { ino: BigInt(ino!), dev: userToKernelDev(BigInt(dev!)), mode: mode! };
  }
  async function shInside(c: TestContainer, script: string): Promise<string> {
    const ns = c.sandboxId ? 'k8s.io' : 'default';
    return cd.ctr(['task', 'exec', '--exec-id', `sh-${Date.now()}-${Math.random().toString(36).slice(2)}`, c.id, '/bin/sh', '-c', script], ns);
  }

  test('CRI finds the pod container\'s pid; the cgroup scan finds the same one', async () => {
    const viaCri = await findContainerPid(`containerd://${pod.id}`, { cri });
    assert.equal(viaCri.via, 'cri');
    const viaCgroup = await findContainerPid(`containerd://${pod.id}`, { cri: null });
    assert.equal(viaCgroup.via, 'cgroup');
    assert.equal(viaCgroup.pid, viaCri.pid);
    // It is the container's process: in its cgroup, in another mount namespace.
    assert.match(readFileSync(`/proc/${viaCri.pid}/cgroup`, 'utf8'), new RegExp(pod.id));
    assert.notEqual(readlinkSync(`/proc/${viaCri.pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'));
  });

  test('a container CRI does not know is found by the cgroup fallback, which says why', async () => {
    const r = await findContainerPid(plain.id, { cri });
    assert.equal(r.via, 'cgroup');
    assert.equal(r.pid, plain.pid); // from `ctr task ls`
    assert.match(r.criError ?? '', /not found/);
    await assert.rejects(findContainerPid('containerd://0000000000000000000000000000000000000000000000000000000000000000', { cri }),
      (e) => isKiveError(e, 'KIVE_CONTAINER_NOT_FOUND'));
  });

  for (const which of ['ctr', 'cri'] as const) {
    const c = () => (which === 'ctr' ? plain : pod);
    const root = () => `/proc/${c().pid}/root`;

    test(`${which}: a path resolves to the container's file, not the host's`, async () => {
      const r = resolveInRoot({ root: root(), path: '/etc/shadow' });
      const inside = await statInside(c(), '/etc/shadow');
      assert.deepEqual(idOf(r), { ino: inside.ino, dev: inside.dev });
      assert.deepEqual(idOf(r), hostIdentity(`${root()}/etc/shadow`));
      assert.notDeepEqual(idOf(r), hostIdentity(HOST_SHADOW));
      assert.equal(r.created, false);
    });

    test(`${which}: symlinks to /etc/shadow mean the container's /etc/shadow; magic links are refused`, async () => {
      const containerShadow = await statInside(c(), '/etc/shadow');
      const host = hostIdentity(HOST_SHADOW);
      for (const path of ['/secret.txt', '/app/sub/rel-secret.txt']) {
        const r = resolveInRoot({ root: root(), path });
        assert.deepEqual(idOf(r), { ino: containerShadow.ino, dev: containerShadow.dev }, path);
        assert.notDeepEqual(idOf(r), host, path);
      }
      assert.throws(() => resolveInRoot({ root: root(), path: '/magic.txt' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /magic link/.test(e.message));
    });

    test(`${which}: create through a symlink is refused and neither shadow file changes`, async () => {
      const hostBefore = snapshot(HOST_SHADOW);
      const innerBefore = snapshot(`${root()}/etc/shadow`);
      for (const path of ['/secret.txt', '/app/sub/rel-secret.txt', '/magic.txt']) {
        assert.throws(() => resolveInRoot({ root: root(), path, create: true, mode: 444 }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH'), path);
      }
      assert.equal(snapshot(HOST_SHADOW), hostBefore);
      assert.equal(snapshot(`${root()}/etc/shadow`), innerBefore);
      assert.equal((await shInside(c(), 'cat /etc/shadow')).trim(), 'root:container-not-host:1::::::');
    });

    test(`${which}: create never goes through a symlinked directory, named in the refusal (UnsafePath)`, async () => {
      const name = `planted-${which}-${process.pid}.txt`;
      await shInside(c(), `mkdir -p /app/tenant && ln -sfn /etc /app/tenant/d`);
      assert.throws(
        () => resolveInRoot({ root: root(), path: `/app/tenant/d/${name}`, create: true }),
        (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && e.message.includes('/app/tenant/d is a symbolic link (to /etc)'),
      );
      assert.equal((await shInside(c(), `test -e /etc/${name} && echo planted || echo absent`)).trim(), 'absent');
      assert.equal(statSync(`/etc/${name}`, { throwIfNoEntry: false }), undefined);
      // A file that exists behind the link is armed (in the container), never written.
      const r = resolveInRoot({ root: root(), path: '/app/tenant/d/shadow', create: true });
      assert.equal(r.created, false);
      assert.deepEqual(idOf(r), idOf(resolveInRoot({ root: root(), path: '/etc/shadow' })));
    });

    test(`${which}: create makes the file with the exact mode and never truncates it`, async () => {
      const a = resolveInRoot({ root: root(), path: '/app/honey.txt', create: true, mode: 444 });
      assert.equal(a.created, true);
      assert.equal(a.resolvedPath === undefined || a.resolvedPath === '/app/honey.txt', true);
      const inside = await statInside(c(), '/app/honey.txt');
      assert.deepEqual(idOf(a), { ino: inside.ino, dev: inside.dev });
      assert.equal(inside.mode, '444');

      // The workload writes to it; the next reconcile must keep every byte.
      await shInside(c(), 'echo "do not truncate me" > /app/honey.txt');
      const b = resolveInRoot({ root: root(), path: '/app/honey.txt', create: true, mode: 600 });
      assert.equal(b.created, false);
      assert.deepEqual(idOf(b), idOf(a));
      assert.equal((await shInside(c(), 'cat /app/honey.txt')).trim(), 'do not truncate me');
      assert.equal((await statInside(c(), '/app/honey.txt')).mode, '444'); // mode only applies at creation
    });

    test(`${which}: directories, missing files and missing parents`, () => {
      assert.throws(() => resolveInRoot({ root: root(), path: '/app' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /directory/.test(e.message));
      assert.throws(() => resolveInRoot({ root: root(), path: '/missing.txt' }), (e) => isKiveError(e, 'KIVE_PATH_NOT_FOUND'));
      assert.throws(() => resolveInRoot({ root: root(), path: '/no/such/dir/x.txt', create: true }), (e) => isKiveError(e, 'KIVE_PATH_NOT_FOUND'));
    });
  }

  test('a stopped container: its root is gone and the error says so', async () => {
    const extra = await cd.runCtr();
    const root = `/proc/${extra.pid}/root`;
    assert.equal(resolveInRoot({ root, path: '/app/data.txt' }).created, false);
    await extra.stop();
    assert.throws(() => resolveInRoot({ root, path: '/app/data.txt' }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /exited/.test(e.message));
    await assert.rejects(findContainerPid(extra.id, { cri }), (e) => isKiveError(e, 'KIVE_CONTAINER_NOT_FOUND'));
  });
});
