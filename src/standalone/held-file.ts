// Holding on to a trap's file itself, not just its path (`kive run`).
//
// An O_PATH fd to each armed inode does three things: fstat() through it says how many
// links the file still has wherever it was moved or hard-linked, so the trap stays armed
// until the last one is gone; the open reference keeps the kernel from reusing the
// inode number while it is armed (an alert about an unrelated file that got the number
// would be a lie); and an inotify watch through /proc/self/fd/N follows the inode, not a
// name, so a move, link, chmod or truncate anywhere wakes its trap.
//
// Each held file costs one fd and one inotify watch. Node raises the soft RLIMIT_NOFILE
// to the hard limit at start-up; the budget (heldFileBudget) keeps 256 fds of that for
// everything else and never exceeds the trap map's default capacity.

import { closeSync, fstatSync, openSync, readFileSync, readlinkSync, watch } from 'node:fs';
import type { FileKey } from '../kernel/contract.ts';
import { mountinfoFilesFor, superblockDev } from '../runtime/superblock.ts';

const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

/** What a re-check compares to notice what happened to a file. */
export interface FileState {
  nlink: number;
  /** Permission bits and type (st_mode). */
  mode: number;
  size: bigint;
  /** The file's name as the kernel gives it for the fd; undefined when that name was removed. */
  where: string | undefined;
}

export interface HeldFile {
  readonly key: FileKey;
  /** Current state; nlink 0 once the last link is gone. */
  state(): FileState;
  close(): void;
}

/**
 * Opens `path` with O_PATH and returns it held, if it is still the file `key` (the path
 * may have changed since it was resolved: then undefined, and the caller resolves again).
 * `onChange` runs on any inotify event of the inode.
 */
export type HoldFile = (path: string, key: FileKey, onChange: () => void) => HeldFile | undefined;

export const holdFile: HoldFile = (path, key, onChange) => {
  const fd = openSync(path, O_PATH | O_CLOEXEC);
  let ok = false;
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.ino !== key.ino || superblockDev(fd, st.dev, mountinfoFilesFor('/')) !== key.dev) return undefined;
    // inotify_add_watch follows the magic link to the inode itself.
    const watcher = watch(`/proc/self/fd/${fd}`, { persistent: false }, () => onChange());
    watcher.on('error', () => onChange());
    ok = true;
    let closed = false;
    return {
      key,
      state: () => stateOf(fd),
      close() {
        if (closed) return;
        closed = true;
        watcher.close();
        closeSync(fd);
      },
    };
  } finally {
    if (!ok) closeSync(fd);
  }
};

function stateOf(fd: number): FileState {
  const st = fstatSync(fd, { bigint: true });
  let where: string | undefined;
  try {
    const name = readlinkSync(`/proc/self/fd/${fd}`);
    where = name.endsWith(' (deleted)') ? undefined : name;
  } catch {
    where = undefined;
  }
  return { nlink: Number(st.nlink), mode: Number(st.mode), size: st.size, where };
}

/** How many files `kive run` may hold: the fd limit minus a reserve, at most `cap`. */
export function heldFileBudget(cap = 65_536, limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return Math.min(cap, 1024 - 256);
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  const soft = m === null ? 1024 : m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  return Math.max(0, Math.min(cap, soft - 256));
}
