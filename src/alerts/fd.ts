// The three libc calls node:fs lacks for writing to stdout without ever blocking: a
// private descriptor for it (dup), non-blocking mode (fcntl), and a wake-up when it is
// writable again (uv_poll through koffi, the same mechanism the ring buffer reader uses).
//
// O_NONBLOCK is a flag of the open file description, which a dup shares with fd 1 and
// with whoever else holds the same pipe. Node does the same to a piped stdout as soon as
// process.stdout is used, and restores fd 0-2's original flags when the process exits.
// A terminal is reopened instead, as libuv does: its description is the login shell's,
// which must not find its terminal non-blocking if Kive is killed before it can restore it.

import koffi from 'koffi';
import { constants, openSync } from 'node:fs';
import { isatty } from 'node:tty';

const libc = koffi.load('libc.so.6');
const dup = libc.func('int dup(int fd)') as (fd: number) => number;
const fcntl = libc.func('int fcntl(int fd, int cmd, ...)') as (fd: number, cmd: number, ...rest: unknown[]) => number;
const close = libc.func('int close(int fd)') as (fd: number) => number;

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/** A new descriptor for the file behind `fd`, in non-blocking mode; -1 if `fd` is not open. */
export function dupNonBlocking(fd: number): number {
  if (isatty(fd)) {
    try {
      return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch {
      // no /proc: fall back to sharing the description
    }
  }
  const copy = dup(fd);
  if (copy < 0) return -1;
  const flags = fcntl(copy, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) === 0) fcntl(copy, F_SETFL, 'int', flags | O_NONBLOCK);
  return copy;
}

export function closeFd(fd: number): void {
  if (fd >= 0) close(fd);
}

export interface WritableWait {
  close(): void;
}

/**
 * Calls `fn` once `fd` can take more bytes (or has failed: the next write says how).
 * Throws for descriptors epoll cannot wait on (regular files), which never say EAGAIN.
 */
export function whenWritable(fd: number, fn: () => void): WritableWait {
  const handle = koffi.node.poll(fd, { writable: true }, () => {
    handle.close();
    fn();
  });
  return handle;
}
