import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { argumentsFromArgv, ProcessCache, type ProcFs } from '../../src/alerts/process.ts';

function fakeProc(files: Record<string, string>, links: Record<string, string>): ProcFs & { reads: number } {
  const fs = {
    reads: 0,
    readFile(p: string) {
      fs.reads++;
      const v = files[p];
      if (v === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(v);
    },
    readlink(p: string) {
      const v = links[p];
      if (v === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return v;
    },
  };
  return fs;
}

test('arguments are argv[1..] joined by spaces, as in the design document', () => {
  assert.equal(argumentsFromArgv(['cat', '/secret.txt', '-']), '/secret.txt -');
  assert.equal(argumentsFromArgv([]), '');
});

test('reads a live process from /proc, then serves it from the cache', () => {
  let now = 0;
  const fs = fakeProc(
    { '/proc/42/comm': 'cat\n', '/proc/42/cmdline': 'cat\0/secret.txt\0-\0' },
    { '/proc/42/exe': '/usr/bin/cat', '/proc/42/cwd': '/root' },
  );
  const cache = new ProcessCache({ fs, now: () => now, ttlMs: 1000 });
  const ev = { tgid: 42, comm: 'cat' };
  assert.deepEqual(cache.lookup(ev), { binary: '/usr/bin/cat', cwd: '/root', arguments: '/secret.txt -' });
  const reads = fs.reads;
  cache.lookup(ev);
  assert.equal(fs.reads, reads, 'second lookup is a cache hit');
  now = 2000;
  cache.lookup(ev);
  assert.ok(fs.reads > reads, 'expired entries are read again');
});

test('a recycled pid (different comm) is not trusted; kernel-captured details are used', () => {
  const fs = fakeProc({ '/proc/42/comm': 'bash\n', '/proc/42/cmdline': 'bash\0' }, { '/proc/42/exe': '/bin/bash' });
  const cache = new ProcessCache({ fs });
  const details = cache.lookup({ tgid: 42, comm: 'cat', exe: '/usr/bin/cat', cwd: '/tmp', args: ['cat', 'x'] });
  assert.deepEqual(details, { binary: '/usr/bin/cat', cwd: '/tmp', arguments: 'x' });
});

test('an exited process without kernel details falls back to comm, never throws', () => {
  const cache = new ProcessCache({ fs: fakeProc({}, {}) });
  assert.deepEqual(cache.lookup({ tgid: 7, comm: 'cat' }), { binary: 'cat', cwd: '', arguments: '' });
});

test('a deleted executable keeps its path without the (deleted) suffix', () => {
  const fs = fakeProc({ '/proc/9/comm': 'x\n', '/proc/9/cmdline': 'x\0' }, { '/proc/9/exe': '/tmp/x (deleted)', '/proc/9/cwd': '/' });
  assert.equal(new ProcessCache({ fs }).lookup({ tgid: 9, comm: 'x' }).binary, '/tmp/x');
});

test('the real /proc: this very process', () => {
  const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
  const details = new ProcessCache().lookup({ tgid: process.pid, comm });
  assert.equal(details.binary, process.execPath);
  assert.equal(details.cwd, process.cwd());
});

test('kernel details the kernel cut short are marked truncated; /proc details are not', () => {
  const cache = new ProcessCache({ fs: fakeProc({}, {}) });
  const ev = { tgid: 43, comm: 'cat', exe: '/deep/cat', cwd: '/d/e', args: ['cat', 'x'], truncated: ['exe', 'cwd', 'args'] as const };
  assert.deepEqual(cache.lookup({ ...ev, truncated: [...ev.truncated] }).truncated, ['binary', 'cwd', 'arguments']);
  assert.equal(new ProcessCache({ fs: fakeProc({}, {}) }).lookup({ ...ev, truncated: ['cwd'] }).truncated?.join(), 'cwd');
  // A live process: /proc has the whole exe and argv, and the kernel's cut cwd is used only if /proc's is unreadable.
  const live = fakeProc({ '/proc/44/comm': 'cat\n', '/proc/44/cmdline': 'cat\0x\0' }, { '/proc/44/exe': '/usr/bin/cat', '/proc/44/cwd': '/root' });
  assert.equal(new ProcessCache({ fs: live }).lookup({ ...ev, tgid: 44, truncated: ['exe', 'cwd', 'args'] }).truncated, undefined);
  const noCwd = fakeProc({ '/proc/45/comm': 'cat\n', '/proc/45/cmdline': 'cat\0x\0' }, { '/proc/45/exe': '/usr/bin/cat' });
  assert.deepEqual(new ProcessCache({ fs: noCwd }).lookup({ ...ev, tgid: 45, truncated: ['exe', 'cwd', 'args'] }).truncated, ['cwd']);
});

test('with a cgroup mapping, details name the accessor; another cgroup is another entry', async () => {
  const { AccessorIndex } = await import('../../src/alerts/accessor.ts');
  const c = 'c'.repeat(64);
  const index = new AccessorIndex({
    scan: () => new Map([[1n, '/'], [77n, `/kubepods/pod1/${c}`]]),
    podContainer: (id) => (id === c ? { podName: 'web-1', podNamespace: 'default', containerId: `containerd://${c}`, containerName: 'app' } : undefined),
  });
  const fs = fakeProc({ '/proc/42/comm': 'cat\n', '/proc/42/cmdline': 'cat\0x\0' }, { '/proc/42/exe': '/usr/bin/cat', '/proc/42/cwd': '/' });
  const cache = new ProcessCache({ fs, accessorOf: (id) => index.of(id) });
  assert.deepEqual(cache.lookup({ tgid: 42, comm: 'cat', cgroupId: 77n }).accessor, {
    host: false, 'cgroup-id': '77', pod: { name: 'web-1', namespace: 'default' }, container: { id: `containerd://${c}`, name: 'app' },
  });
  assert.deepEqual(cache.lookup({ tgid: 42, comm: 'cat', cgroupId: 1n }).accessor, { host: true, 'cgroup-id': '1' });
  assert.equal('accessor' in new ProcessCache({ fs }).lookup({ tgid: 42, comm: 'cat', cgroupId: 77n }), false, 'no mapping: no accessor');
});
