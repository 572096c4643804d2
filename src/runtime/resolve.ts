// Resolve a trap path inside a container's root file system and return the file's
// identity (inode + device), optionally creating the file first (a honeytoken).
//
// Threat model. Two kinds of attacker control parts of the path:
// - the container: whoever runs in it can plant symlinks such as
//   `/secret.txt -> /etc/shadow` or `-> ../../../../etc/shadow`. Resolving the path with
//   host semantics (`/proc/<pid>/root` + path, or realpath) would follow those onto the
//   HOST's files;
// - an unprivileged user who owns a directory on the trap's path (in a container, or on
//   the host for `kive run`, where the root is `/`): they can swap that directory for a
//   symlink to `/etc`, before Kive starts or at any moment while it runs (a deleted
//   honeytoken is re-created within milliseconds), so that root creates the file there.
// Looking at a file is harmless wherever it is; creating one is a write, so:
//
// 1. The root is opened once (`/proc/<pid>/root`, or `/` for `kive run` on the host) as
//    an O_PATH fd, and every lookup goes through openat2(rootfd, path) with
//    RESOLVE_IN_ROOT: absolute symlinks and ".." are interpreted relative to that fd, as
//    if the process had chrooted there, atomically in the kernel (no check-then-use race).
//    A symlink to /etc/shadow therefore means the CONTAINER's /etc/shadow.
// 2. RESOLVE_NO_MAGICLINKS refuses /proc "magic links" (/proc/<pid>/root, /proc/self/fd/N)
//    anywhere in the walk: they jump to objects outside the root and are the classic
//    escape from RESOLVE_IN_ROOT-like checks.
// 3. Arming an EXISTING file follows in-root symlinks (what is trapped is the inode the
//    path names, as a reader of the path would get it; Secret and ConfigMap volumes are
//    symlink chains).
// 4. CREATING never goes through a symlink, in any component. The parent directory is
//    opened with RESOLVE_NO_SYMLINKS (one kernel walk that fails on the first link), and
//    the file is created relative to that directory fd with O_CREAT|O_EXCL|O_NOFOLLOW.
//    The fd pins the directory that was checked: swapping a name on the path for a link
//    after the check cannot redirect the create, which lands in the checked directory or
//    fails. If that directory was moved away meanwhile, the file is not at the trap's
//    path: that is detected (the path is walked again and must name the same directory)
//    and refused, naming where the file went. O_EXCL: a new regular file or nothing; an
//    existing file is never opened for writing, truncated, rewritten or chmod'ed. The
//    exact mode is set with fchmod on the new fd (umask does not apply to fchmod).
//    A symlink on the way is refused naming the component (and its target), unless the
//    file already exists behind it, which is armed as in 3 (nothing is written).
// 5. Only regular files are accepted. Existing files are opened with O_PATH, which does
//    not open the file itself: a FIFO or device cannot block us or trigger a driver.

import { closeSync, fchmodSync, fstatSync, openSync, readlinkSync } from 'node:fs';
import { KiveError, isKiveError } from '../errors.ts';
import { mountinfoFilesFor, superblockDev } from './superblock.ts';
import { DEFAULT_CREATE_MODE, formatMode, parseOctalDigits } from './mode.ts';
import {
  O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY,
  RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, SyscallError, openat2, readLinkFd,
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
// For creating: no symlink at all (this implies no magic link either).
const RESOLVE_STRICT = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
// One name relative to a directory fd that was itself resolved strictly.
const RESOLVE_NAME = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
// RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount raced with a ".." step; the
// kernel expects the caller to retry.
const EAGAIN_RETRIES = 8;
// EEXIST on create, then ENOENT on the lookup: the file was deleted in between. Try again
// a few times rather than fail a start-up on that race.
const CREATE_RETRIES = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/**
 * Resolve `path` inside `root` and return its identity, creating it first if asked.
 * Synchronous (one syscall chain, no I/O on file contents).
 *
 * Throws KiveError:
 * - KIVE_INVALID_POLICY: path not absolute or containing NUL; with create, a path that
 *   does not end in a file name; bad mode digits.
 * - KIVE_PATH_NOT_FOUND: the path (or, with create, its parent directory) does not exist.
 * - KIVE_UNSAFE_PATH: a magic link or symlink loop in the walk; create requested and a
 *   component is a symlink (the message names it) with no file behind it, or the final
 *   component is a symlink, or the directory moved while the file was created; the path
 *   is not a regular file.
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
    if (opts.create) return createOrArm(rootFd, root, path, mode);
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

function createOrArm(rootFd: number, root: string, path: string, mode: number): ResolvedFile {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash) || '/';
  const name = path.slice(slash + 1);
  if (name === '' || name === '.' || name === '..') {
    throw new KiveError('KIVE_INVALID_POLICY', `trap path ${JSON.stringify(path)}: create needs a file name as the last component`);
  }
  const what = `create (mode ${formatMode(mode)})`;
  let dirFd: number;
  try {
    dirFd = call(() => openat2(rootFd, dir, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0, resolve: RESOLVE_STRICT }));
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ELOOP') return armBehindLink(rootFd, root, path, dir);
    throw translate(err, root, path, what);
  }
  try {
    for (let attempt = 1; ; attempt++) {
      const fd = tryCreateAt(dirFd, name, mode, root, path, what);
      if (fd !== undefined) {
        try {
          fchmodSync(fd, mode); // umask shaped the mode given to open; this sets it exactly
          assertStillAtPath(rootFd, dirFd, fd, root, path, dir);
          return identify(fd, rootFd, root, path, true);
        } finally {
          closeSync(fd);
        }
      }
      // It exists: look at it without following a final symlink (creating "through" a
      // symlink is exactly the upstream defect), and never modify it.
      try {
        return lookupAt(dirFd, name, rootFd, root, path);
      } catch (err) {
        if (!isKiveError(err, 'KIVE_PATH_NOT_FOUND') || attempt >= CREATE_RETRIES) throw err;
      }
    }
  } finally {
    closeSync(dirFd);
  }
}

/** O_CREAT|O_EXCL of one name in dirFd; returns the new fd, or undefined if the name exists. */
function tryCreateAt(dirFd: number, name: string, mode: number, root: string, path: string, what: string): number | undefined {
  try {
    return call(() => openat2(dirFd, name, {
      flags: O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
      mode,
      resolve: RESOLVE_NAME,
    }));
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') return undefined; // also a (dangling) symlink
    throw translate(err, root, path, what);
  }
}

// The file was created in the directory that was checked; if that directory no longer
// is what the path names (renamed away, a link put in its place), the honeytoken is not
// where the policy says and must not be reported as if it were.
function assertStillAtPath(rootFd: number, dirFd: number, fd: number, root: string, path: string, dir: string): void {
  const want = fstatSync(dirFd, { bigint: true });
  let same = false;
  try {
    const again = call(() => openat2(rootFd, dir, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0, resolve: RESOLVE_STRICT }));
    try {
      const now = fstatSync(again, { bigint: true });
      same = now.ino === want.ino && now.dev === want.dev;
    } finally {
      closeSync(again);
    }
  } catch {
    same = false;
  }
  if (same) return;
  const where = pathInRoot(fd, rootFd);
  throw new KiveError('KIVE_UNSAFE_PATH', `create ${path} in ${root}: refused: ${dir} was moved or replaced while the file was created, so the new file is ${where !== undefined ? `at ${where}` : 'elsewhere'}, not at the trap's path; it is not armed`);
}

// The strict walk to the parent met a symlink. A file that already exists behind it is
// armed like any existing file (nothing is written); a missing one is never created.
function armBehindLink(rootFd: number, root: string, path: string, dir: string): ResolvedFile {
  try {
    return lookup(rootFd, root, path, O_NOFOLLOW);
  } catch (err) {
    if (!isKiveError(err, 'KIVE_PATH_NOT_FOUND')) throw err;
    const link = findLink(rootFd, dir);
    const why = link === undefined
      ? `a component of ${dir} is a symbolic link (it changed while being checked)`
      : `${link.component} is a symbolic link${link.target !== undefined ? ` (to ${link.target})` : ''}`;
    throw new KiveError('KIVE_UNSAFE_PATH', `create ${path} in ${root}: refused: ${why}; a honeytoken is only created where every directory on its path is a real directory, never through a link (name the real directory in the policy)`, { cause: err });
  }
}

// For the message only (the decision was the kernel's): the first component of `dir`
// that is a symlink, and where it points. Walks one more component at a time, each walk
// strict, so it stops exactly at the first link.
function findLink(rootFd: number, dir: string): { component: string; target?: string } | undefined {
  const parts: string[] = [];
  for (const c of dir.split('/')) {
    if (c === '' || c === '.') continue;
    // Lexical ".." is what the kernel does on a walk without links, which this is up
    // to the first link; at the root it stays there, as RESOLVE_IN_ROOT does.
    if (c === '..') {
      parts.pop();
      continue;
    }
    parts.push(c);
    const component = `/${parts.join('/')}`;
    let fd: number;
    try {
      fd = call(() => openat2(rootFd, component, { flags: O_PATH | O_NOFOLLOW | O_CLOEXEC, mode: 0, resolve: RESOLVE_STRICT }));
    } catch {
      return undefined;
    }
    try {
      if ((Number(fstatSync(fd).mode) & S_IFMT) !== S_IFLNK) continue;
      try {
        return { component, target: readLinkFd(fd) };
      } catch {
        return { component };
      }
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}

/** `path` below the root (RESOLVE), its identity checked; `extra`: more open flags. */
function lookup(rootFd: number, root: string, path: string, extra: number): ResolvedFile {
  return openChecked(rootFd, path, O_PATH | O_CLOEXEC | extra, RESOLVE, rootFd, root, path);
}

/** `name` in the already-resolved directory `dirFd`, never following it (RESOLVE_NAME). */
function lookupAt(dirFd: number, name: string, rootFd: number, root: string, path: string): ResolvedFile {
  return openChecked(dirFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, RESOLVE_NAME, rootFd, root, path);
}

function openChecked(atFd: number, name: string, flags: number, resolve: number, rootFd: number, root: string, path: string): ResolvedFile {
  let fd: number;
  try {
    fd = call(() => openat2(atFd, name, { flags, mode: 0, resolve }));
  } catch (err) {
    throw translate(err, root, path, 'resolve');
  }
  try {
    return checkExisting(fd, rootFd, root, path);
  } finally {
    closeSync(fd);
  }
}

function checkExisting(fd: number, rootFd: number, root: string, path: string): ResolvedFile {
  const type = Number(fstatSync(fd, { bigint: true }).mode) & S_IFMT;
  if (type === S_IFLNK) {
    // Only reachable with O_NOFOLLOW, i.e. when create was requested.
    throw new KiveError('KIVE_UNSAFE_PATH', `create ${path} in ${root}: the final component is a symbolic link; refusing to create or arm a file through it (remove the link or set create: false)`);
  }
  if (type !== S_IFREG) {
    throw new KiveError('KIVE_UNSAFE_PATH', `resolve ${path} in ${root}: is a ${fileType(type)}, not a regular file; only regular files can be traps`);
  }
  return identify(fd, rootFd, root, path, false);
}

function identify(fd: number, rootFd: number, root: string, path: string, created: boolean): ResolvedFile {
  const st = fstatSync(fd, { bigint: true });
  if ((Number(st.mode) & S_IFMT) !== S_IFREG) {
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
