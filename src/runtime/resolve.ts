// Resolve a trap path inside a container's root file system and return the file's
// identity (inode + device), optionally creating the file first (a honeytoken).
//
// The container is untrusted: whoever controls it can plant symlinks such as
// `/secret.txt -> /etc/shadow` or `-> ../../../../etc/shadow`. Resolving the path with
// host semantics (`/proc/<pid>/root` + path, or realpath) would follow those onto the
// HOST's files, and `create` would then create or chmod host files. So:
//
// 1. The root is opened once (`/proc/<pid>/root`, or `/` for `kive run` on the host) as
//    an O_PATH fd, and every lookup goes through openat2(rootfd, path) with
//    RESOLVE_IN_ROOT: absolute symlinks and ".." are interpreted relative to that fd, as
//    if the process had chrooted there, atomically in the kernel (no check-then-use race).
//    A symlink to /etc/shadow therefore means the CONTAINER's /etc/shadow.
// 2. RESOLVE_NO_MAGICLINKS refuses /proc "magic links" (/proc/<pid>/root, /proc/self/fd/N)
//    anywhere in the walk: they jump to objects outside the root and are the classic
//    escape from RESOLVE_IN_ROOT-like checks.
// 3. `create` uses O_CREAT|O_EXCL|O_NOFOLLOW: it creates a new regular file or fails; it
//    never opens, truncates or rewrites an existing file, and never creates through a
//    final symlink. The exact mode is then set with fchmod on the new fd (umask does not
//    apply to fchmod). An existing file is only looked at: no chmod, no write.
// 4. Only regular files are accepted. Existing files are opened with O_PATH, which does
//    not open the file itself: a FIFO or device cannot block us or trigger a driver.

import { closeSync, fchmodSync, fstatSync, openSync, readlinkSync } from 'node:fs';
import { KiveError } from '../errors.ts';
import { mountinfoFilesFor, superblockDev } from './superblock.ts';
import { DEFAULT_CREATE_MODE, formatMode, parseOctalDigits } from './mode.ts';
import {
  O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY,
  RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, SyscallError, openat2,
} from './openat2.ts';

export interface ResolveOptions {
  /** Root to resolve in: `/proc/<pid>/root` for a container, `/` on the host. */
  root: string;
  /** Absolute path inside the root, e.g. `/secret.txt`. */
  path: string;
  /** Create the file when missing (KiveTrap.create). */
  create?: boolean;
  /**
   * Mode for a created file exactly as KiveTrap.mode writes it: octal DIGITS (444 means
   * r--r--r--). Default 644. Ignored for a file that already exists.
   */
  mode?: number;
}

export interface ResolvedFile {
  /** Inode number (st_ino). */
  ino: bigint;
  /**
   * Device in the kernel's encoding, major << 20 | minor: what `inode->i_sb->s_dev`
   * holds, which is not stat()'s st_dev on btrfs (see superblock.ts).
   */
  dev: number;
  /** True if this call created the file. */
  created: boolean;
  /**
   * Path of the file inside the root after following symlinks, when the kernel can name
   * it relative to the root (it cannot when the root is not reachable from Kive's own
   * mount namespace). For messages and status only, never for opening.
   */
  resolvedPath?: string;
}

const RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
// RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount raced with a ".." step; the
// kernel expects the caller to retry.
const EAGAIN_RETRIES = 8;

/**
 * Resolve `path` inside `root` and return its identity, creating it first if asked.
 * Synchronous (one syscall chain, no I/O on file contents).
 *
 * Throws KiveError:
 * - KIVE_INVALID_POLICY: path not absolute or containing NUL; bad mode digits.
 * - KIVE_PATH_NOT_FOUND: the path (or, with create, its parent directory) does not exist.
 * - KIVE_UNSAFE_PATH: a magic link or symlink loop in the walk; create requested and the
 *   final component is a symlink; the path is not a regular file.
 * - KIVE_RUNTIME: the root cannot be opened (process gone), openat2 unsupported
 *   (Linux < 5.6), or another errno (EACCES, EROFS, ...).
 */
export function resolveInRoot(opts: ResolveOptions): ResolvedFile {
  const { root, path } = opts;
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new KiveError('KIVE_INVALID_POLICY', `trap path ${JSON.stringify(path)}: must be an absolute path`);
  }
  const mode = !opts.create ? 0 : opts.mode === undefined ? DEFAULT_CREATE_MODE : parseOctalDigits(opts.mode);

  const rootFd = openRoot(root);
  try {
    if (opts.create) {
      const fd = tryCreate(rootFd, root, path, mode);
      if (fd !== undefined) {
        try {
          fchmodSync(fd, mode); // umask shaped the mode given to open; this sets it exactly
          return identify(fd, rootFd, root, path, true);
        } finally {
          closeSync(fd);
        }
      }
      // It exists: look at it without following a final symlink (creating "through" a
      // symlink is exactly the upstream defect), and never modify it.
      return lookup(rootFd, root, path, O_NOFOLLOW);
    }
    return lookup(rootFd, root, path, 0);
  } finally {
    closeSync(rootFd);
  }
}

/**
 * An O_PATH fd of directory `dir` inside `root`, resolved with the same confinement as
 * resolveInRoot (for watching a trap's directory; the caller closes it). Throws like
 * resolveInRoot.
 */
export function openDirInRoot(root: string, dir: string): number {
  if (!dir.startsWith('/') || dir.includes('\0')) {
    throw new KiveError('KIVE_INVALID_POLICY', `directory ${JSON.stringify(dir)}: must be an absolute path`);
  }
  const rootFd = openRoot(root);
  try {
    return call(() => openat2(rootFd, dir, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0, resolve: RESOLVE }));
  } catch (err) {
    throw translate(err, root, dir, 'resolve');
  } finally {
    closeSync(rootFd);
  }
}

function openRoot(root: string): number {
  try {
    // A normal open: /proc/<pid>/root is itself a magic link and following it is the
    // point. O_PATH: we only need an anchor for lookups, not read access.
    return openSync(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const hint = root.startsWith('/proc/') ? ' (has the container process exited?)' : '';
    throw new KiveError('KIVE_RUNTIME', `open root ${root}: ${code}${hint}`, { cause: err });
  }
}

/** O_CREAT|O_EXCL; returns the new fd, or undefined if the name already exists. */
function tryCreate(rootFd: number, root: string, path: string, mode: number): number | undefined {
  try {
    return call(() => openat2(rootFd, path, {
      flags: O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
      mode,
      resolve: RESOLVE,
    }));
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') return undefined; // also a (dangling) symlink
    throw translate(err, root, path, `create (mode ${formatMode(mode)})`);
  }
}

function lookup(rootFd: number, root: string, path: string, extra: number): ResolvedFile {
  let fd: number;
  try {
    fd = call(() => openat2(rootFd, path, { flags: O_PATH | O_CLOEXEC | extra, mode: 0, resolve: RESOLVE }));
  } catch (err) {
    throw translate(err, root, path, 'resolve');
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    const type = Number(st.mode) & 0o170000;
    if (type === 0o120000) {
      // Only reachable with O_NOFOLLOW, i.e. when create was requested.
      throw new KiveError('KIVE_UNSAFE_PATH', `create ${path} in ${root}: the final component is a symbolic link; refusing to create or arm a file through it (remove the link or set create: false)`);
    }
    if (type !== 0o100000) {
      throw new KiveError('KIVE_UNSAFE_PATH', `resolve ${path} in ${root}: is a ${fileType(type)}, not a regular file; only regular files can be traps`);
    }
    return identify(fd, rootFd, root, path, false);
  } finally {
    closeSync(fd);
  }
}

function identify(fd: number, rootFd: number, root: string, path: string, created: boolean): ResolvedFile {
  const st = fstatSync(fd, { bigint: true });
  if ((Number(st.mode) & 0o170000) !== 0o100000) {
    throw new KiveError('KIVE_UNSAFE_PATH', `resolve ${path} in ${root}: not a regular file`);
  }
  const out: ResolvedFile = { ino: st.ino, dev: superblockDev(fd, st.dev, mountinfoFilesFor(root)), created };
  const rel = pathInRoot(fd, rootFd);
  if (rel !== undefined) out.resolvedPath = rel;
  return out;
}

// The kernel names both fds from Kive's own root; strip the root's name to get the path
// as the container sees it. Any surprise (deleted, unreachable, odd prefix): no path.
function pathInRoot(fd: number, rootFd: number): string | undefined {
  try {
    const file = readlinkSync(`/proc/self/fd/${fd}`);
    const base = readlinkSync(`/proc/self/fd/${rootFd}`);
    if (!file.startsWith('/') || !base.startsWith('/') || file.endsWith(' (deleted)')) return undefined;
    if (base === '/') return file;
    return file.startsWith(base + '/') ? file.slice(base.length) : undefined;
  } catch {
    return undefined;
  }
}

function call<T>(fn: () => T): T {
  for (let i = 0; ; i++) {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === 'EAGAIN') || i >= EAGAIN_RETRIES) throw err;
    }
  }
}

function translate(err: unknown, root: string, path: string, what: string): Error {
  if (!(err instanceof SyscallError)) return err as Error;
  const where = `${what} ${path} in ${root}`;
  switch (err.code) {
    case 'ENOENT':
      return new KiveError('KIVE_PATH_NOT_FOUND', `${where}: no such file or directory${what === 'resolve' ? '' : ' (Kive creates the file, never its directories)'}`, { cause: err });
    case 'ENOTDIR':
      return new KiveError('KIVE_PATH_NOT_FOUND', `${where}: a parent component is not a directory`, { cause: err });
    case 'ELOOP':
      return new KiveError('KIVE_UNSAFE_PATH', `${where}: refused: the path goes through a /proc magic link or a symbolic link loop`, { cause: err });
    case 'EXDEV':
      return new KiveError('KIVE_UNSAFE_PATH', `${where}: refused: the path would leave the root`, { cause: err });
    case 'ENOSYS':
      return new KiveError('KIVE_RUNTIME', `${where}: openat2 is not supported by this kernel (Linux 5.6 or later is required)`, { cause: err });
    default:
      return new KiveError('KIVE_RUNTIME', `${where}: ${err.code}`, { cause: err });
  }
}

function fileType(type: number): string {
  switch (type) {
    case 0o040000: return 'directory';
    case 0o020000: return 'character device';
    case 0o060000: return 'block device';
    case 0o010000: return 'FIFO';
    case 0o140000: return 'socket';
    default: return `file of type ${type.toString(8)}`;
  }
}
