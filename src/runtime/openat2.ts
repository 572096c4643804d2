// openat2(2) through libc's syscall(3), with koffi. Node has no binding for it, and it
// is the only race-free way to resolve a path inside a foreign root: the kernel confines
// every step of the walk (absolute symlinks, "..", mount crossings) to the root fd, so
// no check-then-use gap exists for a container process to exploit.
//
// Needs Linux 5.6 (openat2); ENOSYS is reported as such, never papered over with an
// unsafe fallback. The syscall number is 437 on every architecture since the syscall
// tables were unified, including x86-64 and arm64.

import { constants } from 'node:fs';
import koffi, { type TypeObject } from 'koffi';
import { errnoName } from '../errors.ts';

export const SYS_openat2 = 437;

// struct open_how's `resolve` bits (include/uapi/linux/openat2.h).
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

// O_* values differ between architectures (O_DIRECTORY, O_NOFOLLOW on arm64): take them
// from Node where it has them. O_PATH and O_CLOEXEC are the same on all Linux ports
// Node supports and Node does not export them.
export const O_RDONLY = constants.O_RDONLY;
export const O_CREAT = constants.O_CREAT;
export const O_EXCL = constants.O_EXCL;
export const O_NOFOLLOW = constants.O_NOFOLLOW;
export const O_DIRECTORY = constants.O_DIRECTORY;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

export interface OpenHow {
  flags: number;
  mode: number;
  resolve: number;
}

/** Thrown by openat2() on failure; `code` is the errno name as Node spells it (ENOENT, ...). */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(syscall: string, errno: number) {
    const code = errnoName(errno);
    super(`${syscall}: ${code}`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

type SyscallFn = (...args: unknown[]) => number | bigint;
interface Binding {
  syscall: SyscallFn;
  readlinkat: (dirfd: number, path: string, buf: Buffer, size: number) => number | bigint;
  openHow: TypeObject;
}
let bound: Binding | undefined;

// Loaded on first use so that modules importing this one (and their unit tests) do not
// need libc loaded.
function binding(): Binding {
  if (bound === undefined) {
    const libc = koffi.load('libc.so.6');
    const openHow = koffi.struct('kive_open_how', { flags: 'uint64', mode: 'uint64', resolve: 'uint64' });
    const syscall = libc.func('long syscall(long number, ...)') as SyscallFn;
    const readlinkat = libc.func('long readlinkat(int dirfd, const char *path, _Out_ uint8_t *buf, size_t size)') as Binding['readlinkat'];
    bound = { syscall, readlinkat, openHow };
  }
  return bound;
}

/**
 * openat2(dirfd, path, how). Returns a new fd that the caller owns and must close
 * (fs.closeSync). Throws SyscallError with the errno otherwise. Synchronous: errno is
 * per thread, so it must be read on the thread that made the call.
 */
export function openat2(dirfd: number, path: string, how: OpenHow): number {
  const { syscall, openHow } = binding();
  const req = { flags: BigInt(how.flags), mode: BigInt(how.mode), resolve: BigInt(how.resolve) };
  const r = Number(
    syscall(SYS_openat2, 'int', dirfd, 'const char *', path, koffi.pointer(openHow), req, 'size_t', koffi.sizeof(openHow)),
  );
  if (r < 0) throw new SyscallError('openat2', koffi.errno());
  return r;
}

const LINK_MAX = 4096; // PATH_MAX: the kernel refuses longer symlink targets

/**
 * The target of the symlink that `fd` (an O_PATH|O_NOFOLLOW fd of the link itself)
 * refers to: readlinkat(fd, ""), which reads that very link, not one found by name, so
 * it cannot be redirected. Throws SyscallError (EINVAL: not a symlink).
 */
export function readLinkFd(fd: number): string {
  const { readlinkat } = binding();
  const buf = Buffer.alloc(LINK_MAX);
  const n = Number(readlinkat(fd, '', buf, buf.length));
  if (n < 0) throw new SyscallError('readlinkat', koffi.errno());
  return buf.subarray(0, n).toString('utf8');
}

