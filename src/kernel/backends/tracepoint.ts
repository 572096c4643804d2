// tracepoint: the syscall-exit tracepoints of the open family and the exec raw
// tracepoint. Needs CONFIG_FTRACE_SYSCALLS, tracefs (mounted by the loader if needed),
// BTF and ring buffers (5.8+); open flags come from bpf_task_pt_regs (5.15+) where the
// kernel has it. For kernels that refuse both permission hooks, as this project's 6.18
// build hosts do. It sees what succeeded, not what was checked (docs/backends.md).

import { objectFileFor, type BackendSpec, type ProgramSpec } from './spec.ts';

/**
 * Every program of bpf/kive_tracepoint.bpf.c, by section. A program the kernel may lack
 * says why in `optional`; a required one that fails to attach fails the backend.
 */
const PROGRAMS: readonly ProgramSpec[] = [
  { section: 'tracepoint/syscalls/sys_exit_open', optional: 'no open(2) on arm64' },
  { section: 'tracepoint/syscalls/sys_exit_openat' },
  { section: 'tracepoint/syscalls/sys_exit_openat2', optional: 'openat2(2) came in 5.6' },
  { section: 'tracepoint/syscalls/sys_exit_creat', optional: 'no creat(2) on arm64' },
  { section: 'raw_tp/sched_process_exec' },
];

export const tracepoint: BackendSpec<'tracepoint'> = {
  name: 'tracepoint',
  objectFile: objectFileFor('tracepoint'),
  hook: PROGRAMS.map((p) => `\`${p.section}\`${p.optional ? ' (optional)' : ''}`).join(', '),
  requires: '`CONFIG_FTRACE_SYSCALLS`, tracefs (the loader mounts it), BTF',
  ops: ['open', 'exec'],
  programs: PROGRAMS,
  sees: {
    open: true,
    exec: 'for a script, the event names the interpreter; the script shows up as its `open`',
    deniedOpen: false,
    failedExec: false,
    access: false,
    traversal: false,
    ioUringOpen: false,
    openByHandle: false,
    compat: false,
    fdAccess: false,
    metadata: false,
    oPath: false,
  },
  targets(kernel) {
    kernel.ensureTracefs();
    // Each program names its own tracepoint: one target, nothing to configure.
    return [{ func: null, rodata: {} }];
  },
  attach: (program) => ({ point: program.section }),
  hint(_stage, e) {
    if (e === 'ENOENT') return 'tracepoint not found (is tracefs mounted? CONFIG_FTRACE_SYSCALLS?)';
    return undefined;
  },
};
