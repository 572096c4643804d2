// tracepoint: the syscall-exit tracepoints of the open family and the exec raw
// tracepoint, plus one program per route around them (./tracepoint-routes.ts). Needs CONFIG_FTRACE_SYSCALLS, tracefs (mounted by the loader if needed),
// BTF and ring buffers (5.8+); open flags come from bpf_task_pt_regs (5.15+) where the
// kernel has it. For kernels that refuse both permission hooks, as this project's 6.18
// build hosts do. It sees what succeeded, not what was checked (docs/backends.md).

import { objectFileFor, type BackendSpec, type ProgramSpec } from './spec.ts';
import { planRoutes, routeOfProgram, ROUTES } from './tracepoint-routes.ts';

/**
 * Every program of bpf/kive_tracepoint.bpf.c, by section. A program the kernel may lack
 * says why in `optional`; a required one that fails to attach fails the backend.
 */
const PROGRAMS: readonly ProgramSpec[] = [
  { section: 'tracepoint/syscalls/sys_exit_open', optional: 'no open(2) on arm64' },
  { section: 'tracepoint/syscalls/sys_exit_openat' },
  { section: 'tracepoint/syscalls/sys_exit_openat2', optional: 'openat2(2) came in 5.6' },
  { section: 'tracepoint/syscalls/sys_exit_creat', optional: 'no creat(2) on arm64' },
  ...ROUTES.map((r) => ({ section: r.section, optional: r.optional, evasion: r.technique })),
  { section: 'raw_tp/sched_process_exec' },
];

export const tracepoint: BackendSpec<'tracepoint'> = {
  name: 'tracepoint',
  objectFile: objectFileFor('tracepoint'),
  hook: PROGRAMS.map((p) => `\`${p.section}\`${p.optional ? ' (optional)' : ''}`).join(', '),
  requires: '`CONFIG_FTRACE_SYSCALLS`, tracefs (the loader mounts it), BTF',
  ops: ['open', 'exec'],
  inodeReads: 'raw',
  programs: PROGRAMS,
  sees: {
    open: true,
    exec: 'for a script, the event names the interpreter; the script shows up as its `open`',
    deniedOpen: false,
    failedExec: false,
    access: false,
    traversal: false,
    ioUringOpen: 'at completion, into the fd table or a direct descriptor',
    openByHandle: true,
    compat: 'x86-64; its program runs on every syscall exit',
    fdAccess: false,
    metadata: false,
    oPath: false,
  },
  targets(kernel) {
    kernel.ensureTracefs();
    // Each program names its own tracepoint: one target, nothing to configure but
    // which route programs this kernel needs.
    return [{ func: null, rodata: {}, ...planRoutes(kernel.routeFacts()) }];
  },
  withoutRefused(target, program, reason) {
    // A refused route program costs that route, not the backend (the gap is reported,
    // and test/kernel/evasion.test.ts fails on that kernel).
    const route = routeOfProgram(program);
    if (!route || target.skip?.includes(route.section)) return undefined;
    return {
      ...target,
      skip: [...(target.skip ?? []), route.section],
      gaps: [...(target.gaps ?? []), `${route.technique} (program ${program} refused: ${reason})`],
    };
  },
  attach: (program) => ({ point: program.section }),
  hint(_stage, e) {
    if (e === 'ENOENT') return 'tracepoint not found (is tracefs mounted? CONFIG_FTRACE_SYSCALLS?)';
    return undefined;
  },
};
