// What each backend is made of and how to choose between them. Pure: no kernel access,
// unit-tested in test/unit/kernel-backends.test.ts.

export type BackendName = 'fentry' | 'kprobe' | 'tracepoint';

/** Best first: fentry sees every permission check at the lowest cost; kprobe sees the
 * same checks at a higher cost; tracepoint sees only successful opens and execs. */
export const BACKEND_PREFERENCE: readonly BackendName[] = ['fentry', 'kprobe', 'tracepoint'];

export interface ProbeResult {
  backend: BackendName;
  supported: boolean;
  reason?: string;
  attachPoint?: string;
  /** When supported: techniques that open files unseen by it on this kernel. */
  gaps?: string[];
}

/** The startup warning for a backend's gaps (empty list: nothing to warn about). */
export function gapWarning(backend: BackendName, gaps: readonly string[]): string | null {
  if (gaps.length === 0) return null;
  return `the ${backend} backend does not see files opened by: ${gaps.join('; ')} (docs/backends.md)`;
}

/** The best backend that probed as supported, or null when none did. */
export function selectBackend(results: readonly ProbeResult[]): BackendName | null {
  for (const name of BACKEND_PREFERENCE) {
    if (results.some((r) => r.backend === name && r.supported)) return name;
  }
  return null;
}

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_PREFERENCE as readonly string[]).includes(s);
}

/** Object file of a backend, as the Makefile names it under build/bpf/. */
export function objectFile(backend: BackendName): string {
  return `kive_${backend}.bpf.o`;
}

/**
 * Why an attach or load failed, in words an operator can act on. `errno` is positive.
 * The kernel's answers are terse (ENOENT for "no kprobes at all"), so the hint names
 * the likely cause per backend.
 */
export function attachHint(backend: BackendName, stage: 'load' | 'attach', errnoName: string): string {
  if (backend === 'kprobe' && stage === 'attach' && (errnoName === 'ENOENT' || errnoName === 'EOPNOTSUPP')) {
    return 'kernel has no kprobes (CONFIG_KPROBES)';
  }
  if (backend === 'fentry' && (errnoName === 'EPERM' || errnoName === 'EACCES')) {
    return `fentry refused: ${errnoName}, kernel lockdown?`;
  }
  if (backend === 'fentry' && (errnoName === 'ENOTSUPP' || errnoName === 'EOPNOTSUPP' || errnoName === 'errno 524')) {
    return 'fentry not supported (no BPF trampoline on this kernel/architecture)';
  }
  if (backend === 'tracepoint' && errnoName === 'ENOENT') {
    return 'tracepoint not found (is tracefs mounted? CONFIG_FTRACE_SYSCALLS?)';
  }
  if (errnoName === 'EPERM') return 'operation not permitted: root with CAP_BPF and CAP_PERFMON, or kernel lockdown?';
  return `${stage} failed`;
}
