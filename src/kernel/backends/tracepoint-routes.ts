// The tracepoint backend's route programs: each covers one route into the kernel's open
// path that the 64-bit open syscall tracepoints do not see (docs/backends.md, "Routes
// around the syscall tracepoints"). A route the kernel does not have at all (no
// io_uring, no IA32 emulation, no file handles) needs no program and is no gap; a route
// the kernel has but Kive cannot cover there is a gap, which the loader hands to the
// caller to warn about (`kive probe`, the startup log). Pure, unit-tested in
// test/unit/kernel-routes.test.ts; ../route-facts.ts reads the facts from kernel BTF.

export type RouteName = 'open_by_handle_at' | 'io_uring' | 'compat';

export interface Route {
  name: RouteName;
  /** Program section and name in bpf/kive_tracepoint.bpf.c (libbpf names failures by program). */
  section: string;
  program: string;
  /** Why the kernel may lack it (ProgramSpec.optional). */
  optional: string;
  /** The technique that evades the backend when the route is not covered. */
  technique: string;
}

export const ROUTES: readonly Route[] = [
  {
    name: 'open_by_handle_at',
    section: 'tracepoint/syscalls/sys_exit_open_by_handle_at',
    program: 'kive_tp_open_by_handle_at',
    optional: 'no file handles without CONFIG_FHANDLE',
    technique: 'open_by_handle_at(2)',
  },
  {
    name: 'io_uring',
    section: 'raw_tp/io_uring_complete',
    program: 'kive_tp_uring_complete',
    optional: 'no io_uring without CONFIG_IO_URING',
    technique: 'io_uring IORING_OP_OPENAT/OPENAT2',
  },
  {
    name: 'compat',
    section: 'tp_btf/sys_exit',
    program: 'kive_tp_compat_exit',
    optional: 'x86-64 only; loaded only with IA32 emulation',
    technique: '32-bit (compat) open syscalls, e.g. int 0x80',
  },
];

/** What the running kernel has, from its BTF. */
export interface RouteFacts {
  /** IA32 emulation is built in: 32-bit syscalls exist. */
  compatSyscalls: boolean;
  /** io_uring is built in (struct io_kiocb exists). */
  ioUring: boolean;
  /** The request fields the program reads exist (io_kiocb.opcode/cqe, io_open.file_slot). */
  ioUringLayout: boolean;
  /** A fixed file table layout the program knows (5.19-6.12 `files`, 6.13+ `data.nodes`). */
  ioUringFixedTable: boolean;
}

export interface RoutePlan {
  /** Sections not to load: their route does not exist on this kernel, or cannot be read. */
  skip: string[];
  /** Techniques that evade the backend on this kernel, known before load. */
  gaps: string[];
}

function route(name: RouteName): Route {
  return ROUTES.find((r) => r.name === name)!;
}

/** Which route programs to load, and which routes stay open whatever happens. */
export function planRoutes(facts: RouteFacts): RoutePlan {
  const skip: string[] = [];
  const gaps: string[] = [];
  if (!facts.compatSyscalls) skip.push(route('compat').section);
  if (!facts.ioUring) skip.push(route('io_uring').section);
  else if (!facts.ioUringLayout) {
    // The program would load and never match: say so instead of watching nothing.
    skip.push(route('io_uring').section);
    gaps.push(`${route('io_uring').technique} (this kernel's io_uring request layout is not one Kive reads)`);
  } else if (!facts.ioUringFixedTable) {
    gaps.push('io_uring opens into direct descriptors (fixed file slots; unknown fixed file table layout)');
  }
  return { skip, gaps };
}

/** The optional route whose program is `program`, e.g. one the kernel refused. */
export function routeOfProgram(program: string): Route | undefined {
  return ROUTES.find((r) => r.program === program);
}
