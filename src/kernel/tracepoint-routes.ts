// The tracepoint backend's optional programs: each covers one route into the kernel's
// open path that the 64-bit open syscall tracepoints do not see (docs/backends.md,
// "Routes around the syscall tracepoints"). A route the kernel does not have at all
// (no io_uring, no IA32 emulation, no file handles) needs no program and is no gap; a
// route the kernel has but Kive cannot cover there is a gap, and the loader hands the
// technique to the caller, which warns about it (`kive probe`, the startup log).
// Pure, unit-tested in test/unit/kernel-routes.test.ts; route-facts.ts reads the facts
// from the kernel's BTF.

export type RouteName = 'open_by_handle_at' | 'io_uring' | 'compat';

export interface Route {
  name: RouteName;
  /** Program section and name in bpf/kive_tracepoint.bpf.c (libbpf names failures by program). */
  section: string;
  program: string;
  /** The technique that evades the backend when the route is not covered. */
  technique: string;
}

export const ROUTES: readonly Route[] = [
  {
    name: 'open_by_handle_at',
    section: 'tracepoint/syscalls/sys_exit_open_by_handle_at',
    program: 'kive_tp_open_by_handle_at',
    technique: 'open_by_handle_at(2)',
  },
  { name: 'io_uring', section: 'raw_tp/io_uring_complete', program: 'kive_tp_uring_complete', technique: 'io_uring IORING_OP_OPENAT/OPENAT2' },
  { name: 'compat', section: 'tp_btf/sys_exit', program: 'kive_tp_compat_exit', technique: '32-bit (compat) open syscalls, e.g. int 0x80' },
];

/** Syscalls some architectures or kernels lack (open/creat on arm64, openat2 < 5.6). */
export const OPTIONAL_SYSCALL_TRACEPOINTS: ReadonlySet<string> = new Set([
  'tracepoint/syscalls/sys_exit_open',
  'tracepoint/syscalls/sys_exit_creat',
  'tracepoint/syscalls/sys_exit_openat2',
]);

/** What the running kernel has, from its BTF. */
export interface RouteFacts {
  /** IA32 emulation is built in: 32-bit syscalls exist. */
  compatSyscalls: boolean;
  /** io_uring is built in (struct io_kiocb exists). */
  ioUring: boolean;
  /** The request fields the program reads exist (io_kiocb.opcode/cqe, struct io_open). */
  ioUringLayout: boolean;
  /** A fixed file table layout the program knows (5.19-6.12 `files`, 6.13+ `data`). */
  ioUringFixedTable: boolean;
}

export interface RoutePlan {
  /** Sections not to load: their route does not exist on this kernel. */
  skip: string[];
  /** Techniques that evade the backend on this kernel, known before load. */
  gaps: string[];
}

/** Which optional programs to load, and which routes stay open whatever happens. */
export function planRoutes(facts: RouteFacts, sectionsInObject: ReadonlySet<string>): RoutePlan {
  const skip: string[] = [];
  const gaps: string[] = [];
  const route = (name: RouteName): Route => ROUTES.find((r) => r.name === name)!;
  if (!facts.compatSyscalls) skip.push(route('compat').section);
  else if (!sectionsInObject.has(route('compat').section)) gaps.push(`${route('compat').technique} (not built for this architecture)`);
  if (!facts.ioUring) skip.push(route('io_uring').section);
  else if (!facts.ioUringLayout) {
    // The program would load and never match: say so instead of watching nothing.
    skip.push(route('io_uring').section);
    gaps.push(`${route('io_uring').technique} (this kernel's io_uring request layout is not one Kive reads)`);
  } else if (!facts.ioUringFixedTable) {
    gaps.push('io_uring opens into direct descriptors (IOSQE_FIXED_FILE slots; unknown fixed file table layout)');
  }
  return { skip, gaps };
}

/**
 * Whether a failed attach of `section` leaves a gap. ENOENT on a syscall tracepoint
 * or on io_uring_complete means the kernel has no such syscall or no io_uring: there
 * is nothing to evade through. Any other failure of an optional route is a gap.
 * Returns undefined for sections that are not optional (the attach error stands).
 */
export function routeGap(section: string, errno: string): { gap: string | null } | undefined {
  if (OPTIONAL_SYSCALL_TRACEPOINTS.has(section)) return errno === 'ENOENT' ? { gap: null } : undefined;
  const route = ROUTES.find((r) => r.section === section);
  if (!route) return undefined;
  if (errno === 'ENOENT' && route.name !== 'compat') return { gap: null };
  return { gap: `${route.technique} (attach ${section}: ${errno})` };
}

/** The optional route whose program is `program`, e.g. one the verifier refused. */
export function routeOfProgram(program: string): Route | undefined {
  return ROUTES.find((r) => r.program === program);
}
