// What a backend is, as data the object loader, `kive probe`, the CLIs, the docs and the
// tests all read. A spec is inert: no kernel access and no libbpf here (the object loader
// in ../object-loader.ts does the work), so unit tests and the CLI's flag checks import it
// freely. The registry is ./index.ts; docs/backends.md says how to add a backend.

import type { RouteFacts } from './tracepoint-routes.ts';

/** `op` of the events a backend emits (enum kive_op in bpf/kive.h, OPS in event.ts). */
export type EventOp = 'permission' | 'open' | 'exec';

/** One program of the object, by its ELF section (`SEC(...)` in the .bpf.c). */
export interface ProgramSpec {
  readonly section: string;
  /**
   * Why the kernel may lack this attach point (another architecture, an older kernel).
   * An optional program whose attach point is missing (ENOENT) is skipped; any other
   * failure, or a missing required one, fails the backend.
   */
  readonly optional?: string;
  /**
   * The technique that opens files unseen when this program is not attached (a route
   * around the backend's main hooks). Any attach failure other than ENOENT then leaves
   * a gap the loader reports (LoadedBackend.gaps) instead of failing the backend.
   */
  readonly evasion?: string;
}

/** One way to hook a backend; the loader tries a backend's targets in turn. */
export interface AttachTarget {
  /** The kernel function hooked, or null when each program names its own attach point. */
  readonly func: string | null;
  /** Settings written into the object's `const volatile` data before load. */
  readonly rodata: Readonly<Record<string, number>>;
  /** Sections not to load: the kernel lacks their route, or refused the program. */
  readonly skip?: readonly string[];
  /** Techniques known before load to evade the backend with this target. */
  readonly gaps?: readonly string[];
}

/** What a backend may ask of the running kernel before it loads (the loader provides it). */
export interface KernelAccess {
  /** Index of the `struct inode *` parameter of `func` in the kernel's BTF, or why not. */
  inodeArgIndex(func: string): number | { reason: string };
  /** Mounts tracefs where libbpf looks for tracepoint ids, unless it already is. */
  ensureTracefs(): void;
  /** Which open routes the kernel has, and whether their internals are readable. */
  routeFacts(): RouteFacts;
  /** The kernel has the bpf_rdonly_cast kfunc (6.2+): raw pointers can be read with plain loads. */
  btfCast(): boolean;
}

/**
 * How a backend's hot path reads the inode it is handed (bpf/lib/filter.h): `typed`, a
 * BTF-typed argument read with plain loads on every kernel (trampolines); `raw`, a raw
 * pointer, read with plain loads after bpf_rdonly_cast where the kernel has it, else
 * with one bpf_probe_read_kernel call per field.
 */
export type InodeReads = 'typed' | 'raw';

/** What `kive probe` says about the hot path's reads for a backend on this kernel. */
export function readsNote(reads: InodeReads, btfCast: boolean): string {
  if (reads === 'typed') return 'plain loads (typed trampoline arguments)';
  return btfCast ? 'plain loads (bpf_rdonly_cast)' : 'bpf_probe_read_kernel per field (no bpf_rdonly_cast kfunc: before 6.2)';
}

/** How the loader attaches one program: bpf_program__attach, or a kprobe on a function. */
export interface AttachPlan {
  /** Reported as `attachedTo` and in errors, e.g. `kprobe/inode_permission`. */
  readonly point: string;
  /** Attach as a kprobe on this function instead of the program's own section. */
  readonly kprobe?: string;
}

export type Stage = 'load' | 'attach';

/**
 * Kinds of access to a trapped file, for the "what it sees" table in docs/backends.md.
 * Each backend says yes, no, or yes with a condition.
 */
export const ACCESSES = {
  open: 'open(2)/openat(2)/openat2(2)/creat(2) that succeeds, by any path (hard link, symlink, bind mount)',
  exec: 'execve(2) of the file',
  deniedOpen: 'an open the kernel then denies (EACCES)',
  failedExec: 'an exec that fails after the permission check',
  access: 'access(2)/faccessat(2)',
  traversal: 'chdir(2) into, or a path walk through, a trapped directory',
  ioUringOpen: 'io_uring IORING_OP_OPENAT',
  openByHandle: 'open_by_handle_at(2)',
  compat: '32-bit compat syscalls (int 0x80)',
  fdAccess: 'read/write/mmap through an fd opened earlier, passed or inherited',
  metadata: 'stat(2), readlink(2), getxattr(2)',
  oPath: 'open with O_PATH',
} as const;

export type Access = keyof typeof ACCESSES;
/** true: seen; false: missed; a string: seen, with that condition. */
export type Seen = boolean | string;

export interface BackendSpec<N extends string = string> {
  readonly name: N;
  /** Under the object directory (build/bpf/), as the Makefile builds bpf/kive_<name>.bpf.c. */
  readonly objectFile: string;
  /** What it hooks, in words (docs table). */
  readonly hook: string;
  /** What the kernel must have (docs table and doc comment). */
  readonly requires: string;
  readonly ops: readonly EventOp[];
  readonly inodeReads: InodeReads;
  /** Every program of the object; a test checks this against the .bpf.c's sections. */
  readonly programs: readonly ProgramSpec[];
  readonly sees: Readonly<Record<Access, Seen>>;
  /**
   * The targets to try, best first, after checking what the kernel offers. Throws
   * KiveError KIVE_BACKEND_UNSUPPORTED when there is none, KIVE_ATTACH_FAILED when a
   * prerequisite cannot be set up.
   */
  targets(kernel: KernelAccess): AttachTarget[];
  /** The BTF function each program is bound to before load (trampolines: fentry, lsm). */
  loadTarget?(target: AttachTarget): string;
  attach(program: ProgramSpec, target: AttachTarget): AttachPlan;
  /**
   * The kernel refused `program` at load (verifier or otherwise): a target without it,
   * with the gap that leaves, when the backend can do without it; else undefined.
   */
  withoutRefused?(target: AttachTarget, program: string, reason: string): AttachTarget | undefined;
  /** The likely cause of a terse errno at one stage, when this backend knows it. */
  hint?(stage: Stage, errnoName: string): string | undefined;
}

/** Object file of a backend, as the Makefile names it under build/bpf/. */
export function objectFileFor(name: string): string {
  return `kive_${name}.bpf.o`;
}

/**
 * Why an attach or load failed, in words an operator can act on. The kernel's answers
 * are terse (ENOENT for "no kprobes at all"), so the backend names the likely cause
 * first; EPERM is the same for all of them.
 */
export function attachHint(spec: BackendSpec, stage: Stage, errnoName: string): string {
  const own = spec.hint?.(stage, errnoName);
  if (own !== undefined) return own;
  if (errnoName === 'EPERM') return 'operation not permitted: root with CAP_BPF and CAP_PERFMON, or kernel lockdown?';
  return `${stage} failed`;
}

/** A program's spec by section; a program the table does not list is required. */
export function programSpec(spec: BackendSpec, section: string): ProgramSpec {
  return spec.programs.find((p) => p.section === section) ?? { section };
}
