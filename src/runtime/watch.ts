// Noticing that a trap's file was replaced, without waiting for the next periodic
// re-check. A trap is a path but the kernel watches an inode: after `mv new secret.txt`
// (or delete + recreate) inside a container, the map still holds the old inode until
// the file is resolved again. So the directory holding each trap's file is watched with
// inotify, and a change to that name (or to the directory itself) asks for a re-resolve.
//
// The directory is found exactly as the file is (openat2 RESOLVE_IN_ROOT, src/runtime/
// resolve.ts) and the watch is added through /proc/self/fd/N, so a symlink inside the
// container can never point the watch at a host directory. A watch only ever triggers a
// reconcile; it never reads or writes anything, and missing one costs at most a
// re-check period.
//
// A Kubernetes Secret or ConfigMap volume (and tools that plant decoys the same way) never
// touches the trap's own name on an update: FILE -> ..data/FILE, ..data -> ..2026_..., and
// the kubelet renames a new ..data over the old one. So the names the trap's name leads to
// through relative symlinks in the same directory (..data here) are watched too. A chain
// that leaves the directory (an absolute target, or ../) is left to the re-check.

import { closeSync, readlinkSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { openDirInRoot } from './resolve.ts';

export interface Closable {
  close(): void;
}

/** Watches the directory of `path` inside `root`; calls onChange when that name changes. */
export type WatchFileInRoot = (root: string, path: string, onChange: () => void) => Closable;

/** How many symlinks of the chain are followed; Kubernetes' layout has two. */
const MAX_CHAIN = 8;

/**
 * `name`, and the first component of each relative symlink target met following it inside
 * the directory open as `via` (readlink of `via/n` reads the entry itself: never followed).
 */
export function namesOfChain(via: string, name: string): Set<string> {
  const names = new Set([name]);
  let n = name;
  for (let i = 0; i < MAX_CHAIN; i++) {
    let target: string;
    try {
      target = readlinkSync(`${via}/${n}`);
    } catch {
      break; // not a symlink, or gone
    }
    const first = target.split('/').find((c) => c !== '' && c !== '.');
    if (target.startsWith('/') || first === undefined || first === '..' || names.has(first)) break;
    names.add(first);
    n = first;
  }
  return names;
}

export const watchFileInRoot: WatchFileInRoot = (root, path, onChange) => {
  const dirFd = openDirInRoot(root, dirname(path));
  const via = `/proc/self/fd/${dirFd}`;
  try {
    const names = namesOfChain(via, basename(path));
    // inotify_add_watch follows the magic link to the directory itself; once added, the
    // watch holds the inode and the fd can go.
    const watcher = watch(via, { persistent: false }, (_event, changed) => {
      // null: the platform did not say; the fd's own name: the directory itself moved
      // or went away. Writes to other files of the directory are not ours.
      if (changed === null || names.has(changed) || changed === basename(via)) onChange();
    });
    watcher.on('error', () => onChange()); // the directory is gone: re-resolve
    return { close: () => watcher.close() };
  } finally {
    closeSync(dirFd);
  }
};

/**
 * The watches of every policy, kept equal to what its last reconcile resolved:
 * `sync(policy, targets)` opens the missing ones and closes the rest. A target whose
 * directory cannot be watched (container exiting) is skipped: the periodic re-check
 * still covers it.
 */
export class TrapWatchSet {
  readonly #open: WatchFileInRoot;
  readonly #onChange: (policyKey: string) => void;
  readonly #byPolicy = new Map<string, Map<string, Closable>>();

  constructor(open: WatchFileInRoot, onChange: (policyKey: string) => void) {
    this.#open = open;
    this.#onChange = onChange;
  }

  /** Returns how many targets could not be watched. */
  sync(policyKey: string, targets: ReadonlyArray<{ root: string; path: string }>): number {
    const current = this.#byPolicy.get(policyKey) ?? new Map<string, Closable>();
    const next = new Map<string, Closable>();
    let failed = 0;
    for (const { root, path } of targets) {
      const key = `${root}\0${path}`;
      if (next.has(key)) continue;
      const have = current.get(key);
      if (have !== undefined) {
        next.set(key, have);
        continue;
      }
      try {
        next.set(key, this.#open(root, path, () => this.#onChange(policyKey)));
      } catch {
        failed++;
      }
    }
    for (const [key, w] of current) if (!next.has(key)) w.close();
    if (next.size > 0) this.#byPolicy.set(policyKey, next);
    else this.#byPolicy.delete(policyKey);
    return failed;
  }

  /** How many directories are watched now (all policies). */
  get size(): number {
    let n = 0;
    for (const m of this.#byPolicy.values()) n += m.size;
    return n;
  }

  close(): void {
    for (const m of this.#byPolicy.values()) for (const w of m.values()) w.close();
    this.#byPolicy.clear();
  }
}
