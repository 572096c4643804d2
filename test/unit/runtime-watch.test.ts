import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKiveError } from '../../src/errors.ts';
import { namesOfChain, TrapWatchSet, watchFileInRoot } from '../../src/runtime/watch.ts';

function scratchRoot(): { root: string; done(): void } {
  const root = mkdtempSync(join(tmpdir(), 'kive-watch-'));
  mkdirSync(join(root, 'd'));
  writeFileSync(join(root, 'd', 'secret.txt'), 'old\n');
  return { root, done: () => rmSync(root, { recursive: true, force: true }) };
}

/** A watch whose calls can be counted and awaited. */
function counted(root: string, path: string) {
  let calls = 0;
  let wake: () => void = () => {};
  const w = watchFileInRoot(root, path, () => {
    calls++;
    wake();
  });
  return {
    get calls() {
      return calls;
    },
    next: () => new Promise<void>((r) => (wake = r)),
    close: () => w.close(),
  };
}

test('a file renamed over the trap fires; writes to other files of the directory do not', async () => {
  const { root, done } = scratchRoot();
  const trap = counted(root, '/d/secret.txt');
  // A second watch on the same directory, for another name: inotify delivers the
  // directory's events to both in order, so once the sentinel has fired the trap's
  // watch has seen (and had to ignore) everything written before it. No sleeping.
  const sentinel = counted(root, '/d/sentinel.txt');
  try {
    const sentinelFired = sentinel.next();
    writeFileSync(join(root, 'd', 'app.log'), 'noise\n');
    writeFileSync(join(root, 'd', 'new.txt'), 'new\n');
    writeFileSync(join(root, 'd', 'sentinel.txt'), 'marker\n');
    await sentinelFired;
    assert.equal(trap.calls, 0, 'writes to other files of the directory are not the trap\'s');

    const trapFired = trap.next();
    renameSync(join(root, 'd', 'new.txt'), join(root, 'd', 'secret.txt'));
    await trapFired;
    assert.ok(trap.calls >= 1);
  } finally {
    trap.close();
    sentinel.close();
    done();
  }
});

test('a Secret volume update (the kubelet renames a new ..data over the old) fires; other entries do not', async () => {
  // The kubelet's layout: token -> ..data/token, ..data -> ..v1 (a timestamped directory).
  const { root, done } = scratchRoot();
  const d = join(root, 'd');
  for (const v of ['..v1', '..v2']) {
    mkdirSync(join(d, v));
    writeFileSync(join(d, v, 'token'), `${v}\n`);
  }
  symlinkSync('..v1', join(d, '..data'));
  symlinkSync('..data/token', join(d, 'token'));
  const trap = counted(root, '/d/token');
  const sentinel = counted(root, '/d/sentinel.txt');
  try {
    const sentinelFired = sentinel.next();
    writeFileSync(join(d, '..v2', 'token'), 'rewritten\n'); // inside another directory: no event here
    writeFileSync(join(d, 'other'), 'noise\n');
    writeFileSync(join(d, 'sentinel.txt'), 'marker\n');
    await sentinelFired;
    assert.equal(trap.calls, 0, 'other entries of the directory are not the trap\'s');

    const trapFired = trap.next();
    symlinkSync('..v2', join(d, '..data_tmp'));
    renameSync(join(d, '..data_tmp'), join(d, '..data'));
    await trapFired;
    assert.ok(trap.calls >= 1, 'the swap of ..data reaches the trap token');
  } finally {
    trap.close();
    sentinel.close();
    done();
  }
});

test('the chain stops at the directory: absolute targets, ../, loops', () => {
  const { root, done } = scratchRoot();
  const d = join(root, 'd');
  try {
    symlinkSync('/etc/passwd', join(d, 'abs'));
    symlinkSync('../x/y', join(d, 'up'));
    symlinkSync('./b/c', join(d, 'a'));
    symlinkSync('a', join(d, 'b'));
    assert.deepEqual([...namesOfChain(d, 'abs')], ['abs']);
    assert.deepEqual([...namesOfChain(d, 'up')], ['up']);
    assert.deepEqual([...namesOfChain(d, 'a')], ['a', 'b']);
    assert.deepEqual([...namesOfChain(d, 'secret.txt')], ['secret.txt']);
  } finally {
    done();
  }
});

test('the directory is found inside the root: a symlink to /etc means the root\'s /etc', () => {
  const { root, done } = scratchRoot();
  try {
    symlinkSync('/etc', join(root, 'escape'));
    assert.throws(
      () => watchFileInRoot(root, '/escape/shadow', () => {}),
      (err: unknown) => isKiveError(err, 'KIVE_PATH_NOT_FOUND'),
      'the host /etc exists; the root has none',
    );
  } finally {
    done();
  }
});

test('TrapWatchSet keeps one watch per (root, path), opens the new, closes the gone', () => {
  const opened: string[] = [];
  const closed: string[] = [];
  const fire = new Map<string, () => void>();
  const changed: string[] = [];
  const set = new TrapWatchSet((root, path, onChange) => {
    if (path === '/broken') throw new Error('no such directory');
    const key = `${root}${path}`;
    opened.push(key);
    fire.set(key, onChange);
    return { close: () => closed.push(key) };
  }, (policy) => changed.push(policy));

  assert.equal(set.sync('ns/p', [{ root: '/proc/1/root', path: '/a' }, { root: '/proc/2/root', path: '/a' }, { root: '/proc/1/root', path: '/a' }]), 0);
  assert.deepEqual(opened, ['/proc/1/root/a', '/proc/2/root/a']);
  assert.equal(set.size, 2);

  // The same targets again: nothing reopened. One gone, one new, one unwatchable.
  assert.equal(set.sync('ns/p', [{ root: '/proc/2/root', path: '/a' }, { root: '/proc/3/root', path: '/a' }, { root: '/proc/3/root', path: '/broken' }]), 1);
  assert.deepEqual(opened, ['/proc/1/root/a', '/proc/2/root/a', '/proc/3/root/a']);
  assert.deepEqual(closed, ['/proc/1/root/a']);

  fire.get('/proc/3/root/a')!();
  assert.deepEqual(changed, ['ns/p']);

  set.sync('ns/p', []);
  assert.deepEqual(closed.sort(), ['/proc/1/root/a', '/proc/2/root/a', '/proc/3/root/a']);
  assert.equal(set.size, 0);
  set.sync('ns/q', [{ root: '/', path: '/x' }]);
  set.close();
  assert.ok(closed.includes('//x'));
});
