// Teardown of what a test containerd leaves behind (test/helpers/containers.ts): shims
// and their containers, empty cgroups, mounts. All synchronous, so that the process
// 'exit' hook can use them when a test crashes before its after() hooks run.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

// Shims outlive containerd by design; ours are the ones serving our socket. Their
// children (container init processes) must die first: once a shim is gone they are
// reparented to pid 1 and nothing would stop them.
export function killShims(socket: string): void {
  const procs: Array<{ pid: number; ppid: number; argv: string[] }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.push({ pid: Number(e), ppid, argv });
    } catch {
      // exited
    }
  }
  const shims = procs.filter((p) => p.argv[0]?.endsWith('containerd-shim-runc-v2') && p.argv.includes(socket)).map((p) => p.pid);
  for (const p of procs) if (shims.includes(p.ppid)) tryKill(p.pid);
  for (const pid of shims) tryKill(pid);
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// Empty cgroups left by killed containers: /sys/fs/cgroup/<hierarchy>/<ns>/<id> (v1) or
// /sys/fs/cgroup/<ns>/<id> (v2), ns being the containerd namespace. rmdir only removes
// empty ones; a process that is still dying gets a second (a synchronous wait, so the
// 'exit' hook can use it too).
export function removeCgroups(ids: Set<string>): void {
  const base = '/sys/fs/cgroup';
  let hierarchies: string[];
  try {
    hierarchies = ['', ...readdirSync(base)];
  } catch {
    return;
  }
  const dirs: string[] = [];
  for (const h of hierarchies) {
    for (const ns of ['default', 'k8s.io']) {
      for (const id of ids) {
        const d = join(base, h, ns, id);
        if (existsSync(d)) dirs.push(d);
      }
    }
  }
  const end = Date.now() + 1_000;
  let left = dirs;
  while (left.length > 0) {
    left = left.filter((d) => {
      try {
        rmdirSync(d);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EBUSY';
      }
    });
    if (left.length === 0 || Date.now() > end) break;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

// Synchronous so that the process 'exit' hook can use it too.
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length); // deepest first
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
}
