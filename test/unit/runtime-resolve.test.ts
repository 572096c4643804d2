// resolveInRoot against real directories used as roots: the same syscalls as for a
// container's /proc/<pid>/root, without needing one (test/integration has those).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { userToKernelDev } from '../../src/kernel/dev.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';

const HOST_SECRET = '/etc/shadow'; // only ever stat'ed here

function makeRoot(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), 'kive-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'data/sub'), { recursive: true });
  writeFileSync(join(root, 'etc/shadow'), 'root-in-container\n');
  writeFileSync(join(root, 'data/file.txt'), 'hello\n');
  return root;
}

function identity(p: string): { ino: bigint; dev: number } {
  const st = statSync(p, { bigint: true });
  return { ino: st.ino, dev: userToKernelDev(st.dev) };
}

function hostSnapshot(p: string): string {
  const st = statSync(p, { bigint: true });
  return JSON.stringify([st.ino, st.dev, st.mode, st.size, st.mtimeNs, st.ctimeNs, st.nlink].map(String));
}

test('dev is the kernel encoding (major << 20 | minor), not stat()\'s', (t) => {
  const root = makeRoot(t);
  // coreutils prints the device's major and minor in decimal: an independent source.
  const [major, minor] = execFileSync('stat', ['-c', '%Hd %Ld', join(root, 'data/file.txt')], { encoding: 'utf8' }).trim().split(' ').map(Number);
  const r = resolveInRoot({ root, path: '/data/file.txt' });
  assert.equal(r.dev, ((major! << 20) | minor!) >>> 0);
});

test('a plain file resolves to its own identity', (t) => {
  const root = makeRoot(t);
  const r = resolveInRoot({ root, path: '/data/file.txt' });
  assert.deepEqual({ ino: r.ino, dev: r.dev }, identity(join(root, 'data/file.txt')));
  assert.equal(r.created, false);
  assert.equal(r.resolvedPath, '/data/file.txt');
});

test('absolute and ".." symlinks stay inside the root', (t) => {
  const root = makeRoot(t);
  symlinkSync('/etc/shadow', join(root, 'secret.txt'));
  symlinkSync('../../../../../../../../etc/shadow', join(root, 'data/sub/rel.txt'));
  const inside = identity(join(root, 'etc/shadow'));
  const host = identity(HOST_SECRET);
  for (const path of ['/secret.txt', '/data/sub/rel.txt', '/../../../etc/shadow', '/data/../../etc/shadow']) {
    const r = resolveInRoot({ root, path });
    assert.deepEqual({ ino: r.ino, dev: r.dev }, inside, path);
    assert.notDeepEqual({ ino: r.ino, dev: r.dev }, host, path);
    assert.equal(r.resolvedPath, '/etc/shadow', path);
  }
});

test('magic links and symlink loops are refused', (t) => {
  const root = makeRoot(t);
  symlinkSync('/loop2', join(root, 'loop1'));
  symlinkSync('/loop1', join(root, 'loop2'));
  assert.throws(() => resolveInRoot({ root, path: '/loop1' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH'));
  // /proc/self/root is the standard escape from a root; refused even with root "/".
  assert.throws(() => resolveInRoot({ root: '/', path: '/proc/self/root/etc/hostname' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /magic link/.test(e.message));
});

test('create makes the file with the exact mode whatever the umask, then never touches it', (t) => {
  const root = makeRoot(t);
  const old = process.umask(0o077); // would turn 0444 into 0400 without the fchmod
  t.after(() => process.umask(old));
  const a = resolveInRoot({ root, path: '/data/honey.txt', create: true, mode: 444 });
  assert.equal(a.created, true);
  const st = statSync(join(root, 'data/honey.txt'));
  assert.equal(st.mode & 0o7777, 0o444);
  assert.equal(st.size, 0);
  assert.deepEqual({ ino: a.ino, dev: a.dev }, identity(join(root, 'data/honey.txt')));

  // Someone (the app, an attacker) writes to it and changes the mode: a second reconcile
  // must keep both, and report the same identity.
  chmodSync(join(root, 'data/honey.txt'), 0o600);
  writeFileSync(join(root, 'data/honey.txt'), 'keep me\n');
  const before = statSync(join(root, 'data/honey.txt'), { bigint: true });
  const b = resolveInRoot({ root, path: '/data/honey.txt', create: true, mode: 444 });
  assert.equal(b.created, false);
  assert.deepEqual({ ino: b.ino, dev: b.dev }, { ino: a.ino, dev: a.dev });
  assert.equal(readFileSync(join(root, 'data/honey.txt'), 'utf8'), 'keep me\n');
  const after = statSync(join(root, 'data/honey.txt'), { bigint: true });
  assert.equal(after.mode & 0o7777n, 0o600n);
  assert.equal(after.mtimeNs, before.mtimeNs);
  assert.equal(after.ctimeNs, before.ctimeNs);

  // Default mode 0644; bad digits refused before anything is created.
  assert.equal(resolveInRoot({ root, path: '/data/d.txt', create: true }).created, true);
  assert.equal(statSync(join(root, 'data/d.txt')).mode & 0o7777, 0o644);
  assert.throws(() => resolveInRoot({ root, path: '/data/bad.txt', create: true, mode: 448 }), (e) => isKiveError(e, 'KIVE_INVALID_POLICY'));
  assert.equal(existsSync(join(root, 'data/bad.txt')), false);
});

test('create through a symlink is refused and nothing is modified', (t) => {
  const root = makeRoot(t);
  symlinkSync('/etc/shadow', join(root, 'secret.txt'));
  symlinkSync('../../../../../../etc/shadow', join(root, 'data/rel.txt'));
  const missing = `/kive-test-missing-${process.pid}-${Date.now()}`;
  symlinkSync(missing, join(root, 'dangling.txt'));
  const hostBefore = hostSnapshot(HOST_SECRET);
  const innerBefore = hostSnapshot(join(root, 'etc/shadow'));
  for (const path of ['/secret.txt', '/data/rel.txt', '/dangling.txt']) {
    assert.throws(() => resolveInRoot({ root, path, create: true, mode: 444 }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /symbolic link/.test(e.message), path);
  }
  assert.equal(hostSnapshot(HOST_SECRET), hostBefore);
  assert.equal(hostSnapshot(join(root, 'etc/shadow')), innerBefore);
  assert.equal(readFileSync(join(root, 'etc/shadow'), 'utf8'), 'root-in-container\n');
  assert.equal(existsSync(join(root, missing)), false);
  assert.equal(existsSync(missing), false);
});

test('only regular files: directories and FIFOs are refused (without blocking)', (t) => {
  const root = makeRoot(t);
  execFileSync('mkfifo', [join(root, 'data/fifo')]);
  assert.throws(() => resolveInRoot({ root, path: '/data' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /directory/.test(e.message));
  assert.throws(() => resolveInRoot({ root, path: '/data', create: true }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /directory/.test(e.message));
  assert.throws(() => resolveInRoot({ root, path: '/data/fifo' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /FIFO/.test(e.message));
  assert.throws(() => resolveInRoot({ root: '/', path: '/dev/null' }), (e) => isKiveError(e, 'KIVE_UNSAFE_PATH') && /character device/.test(e.message));
});

test('missing paths, bad paths and bad roots', (t) => {
  const root = makeRoot(t);
  assert.throws(() => resolveInRoot({ root, path: '/nope.txt' }), (e) => isKiveError(e, 'KIVE_PATH_NOT_FOUND'));
  assert.throws(() => resolveInRoot({ root, path: '/no/dir/x.txt', create: true }), (e) => isKiveError(e, 'KIVE_PATH_NOT_FOUND') && /never its directories/.test(e.message));
  assert.equal(existsSync(join(root, 'no')), false);
  assert.throws(() => resolveInRoot({ root, path: '/data/file.txt/x' }), (e) => isKiveError(e, 'KIVE_PATH_NOT_FOUND'));
  assert.throws(() => resolveInRoot({ root, path: 'data/file.txt' }), (e) => isKiveError(e, 'KIVE_INVALID_POLICY'));
  assert.throws(() => resolveInRoot({ root: join(root, 'missing-root'), path: '/x' }), (e) => isKiveError(e, 'KIVE_RUNTIME'));
  assert.throws(() => resolveInRoot({ root: '/proc/999999999/root', path: '/x' }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /exited/.test(e.message));
});

test('the host root works too (kive run)', () => {
  const r = resolveInRoot({ root: '/', path: HOST_SECRET });
  assert.deepEqual({ ino: r.ino, dev: r.dev }, identity(HOST_SECRET));
  assert.equal(r.resolvedPath, HOST_SECRET);
});
