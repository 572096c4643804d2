// One process per spool directory: an exclusive flock(2) on `DIR/lock` (docs/alerts.md,
// "The spool").
//
// Why flock and not a pid file. A pid file taken by read-then-write let two processes
// starting at once both own the directory (each delivering and deleting the other's
// files). O_EXCL makes taking a free lock atomic, but a dead owner's lock must then be
// taken over, and no plain-fs sequence does that atomically: POSIX has no
// rename-if-unchanged, so a process that judged the lock stale can always remove one
// that a third process created a moment later. The kernel drops a flock when the last fd
// of its owner closes, which a SIGKILL, a crash or an OOM kill does: there is no stale
// lock to judge and no takeover to race. It also holds across pid namespaces (two pods on
// one node sharing the hostPath), which a pid read from /proc could not tell apart.
// koffi is already how Kive calls libc (src/runtime/openat2.ts); Node has no flock.
//
// - Locks belong to open file descriptions: a second open in this same process is refused
//   too, so two sinks can never share a directory.
// - Release unlinks the file while still holding the lock, then closes. A process that
//   opened the old file meanwhile and locks it once it is free would own a file no longer
//   in the directory; so after locking, the file's identity is compared with what the name
//   points to now, and the open is retried if they differ.
// - The file holds the owner's pid and start time: only for the refusal's message.

import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { errnoName, KiveError } from '../errors.ts';

const LOCK_EX = 2;
const LOCK_NB = 4;

let flockFn: ((fd: number, operation: number) => number) | undefined;

/** flock(fd, op): 0, or the errno. Loaded on first use, like openat2.ts. */
function flock(fd: number, operation: number): number {
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  return flockFn(fd, operation) === 0 ? 0 : koffi.errno();
}

/** /proc/<pid>/stat's start time (field 22): with the pid, names one process for its whole life. */
function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/** Held until release(); a process that dies holds nothing. */
export interface SpoolLock {
  release(): void;
}

/**
 * Takes `dir/lock` for this process, or throws KIVE_CONFIG: held by another process (or
 * another spool of this one), or not a regular file. Synchronous: two opens in one
 * process cannot interleave.
 */
export function lockSpoolDir(dir: string, flag: string): SpoolLock {
  const path = join(dir, 'lock');
  const fail = (why: string): never => {
    throw new KiveError('KIVE_CONFIG', `${flag} ${dir}: ${why}`);
  };
  // A few rounds: each retry means an owner released the directory just then.
  for (let round = 0; round < 5; round++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return fail(code === 'ELOOP' || code === 'EISDIR' ? `${path} is not a regular file` : `cannot open ${path}: ${(err as Error).message}`);
    }
    let held = false;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) fail(`${path} is not a regular file`);
      const errno = flock(fd, LOCK_EX | LOCK_NB);
      if (errno === osConstants.errno.EWOULDBLOCK) {
        const owner = readFileSync(fd, 'utf8').trim().split(' ')[0] ?? '';
        const who = owner === String(process.pid) ? 'another spool of this process' : `another Kive process (pid ${/^\d+$/.test(owner) ? owner : 'unknown'})`;
        fail(`in use by ${who}; give each process its own spool directory`);
      }
      if (errno !== 0) fail(`cannot lock ${path}: ${errnoName(errno)}`);
      const now = (() => {
        try {
          return lstatSync(path);
        } catch {
          return undefined;
        }
      })();
      if (now === undefined || now.ino !== st.ino || now.dev !== st.dev) continue; // released and gone meanwhile: again
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid} ${startTimeOf(process.pid)}\n`, 0);
      held = true;
      return {
        release() {
          if (!held) return;
          held = false;
          try {
            unlinkSync(path);
          } catch {
            // Gone already (removed by hand): the lock is released by the close all the same.
          }
          closeSync(fd);
        },
      };
    } finally {
      if (!held) closeSync(fd);
    }
  }
  return fail(`cannot lock ${path}: it keeps being replaced`);
}
