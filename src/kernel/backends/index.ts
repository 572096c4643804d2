// The backend registry: every backend Kive can load, best first. The object loader,
// `kive probe`, automatic selection, the CLIs' --backend check, docs/backends.md's tables
// and the kernel tests all iterate over it. Adding a backend is adding its file next to
// this one (and bpf/kive_<name>.bpf.c) plus one line here; docs/backends.md ("Adding a
// backend") walks through it.

import { KiveError } from '../../errors.ts';
import { fentry } from './fentry.ts';
import { kprobe } from './kprobe.ts';
import type { BackendSpec } from './spec.ts';
import { tracepoint } from './tracepoint.ts';

export type { AttachPlan, AttachTarget, BackendSpec, KernelAccess, ProgramSpec, Stage } from './spec.ts';
export { attachHint, programSpec, readsNote } from './spec.ts';

/**
 * Best first: fentry sees every permission check at the lowest cost; kprobe sees the
 * same checks at a higher cost; tracepoint sees only successful opens and execs.
 */
export const BACKENDS = [fentry, kprobe, tracepoint] as const;

export type BackendName = (typeof BACKENDS)[number]['name'];

/** Backend names, best first. */
export const BACKEND_PREFERENCE: readonly BackendName[] = BACKENDS.map((b) => b.name);

/** What --backend accepts: a backend, or `auto` for the best one this kernel loads. */
export const BACKEND_CHOICES: readonly string[] = ['auto', ...BACKEND_PREFERENCE];

export interface ProbeResult {
  backend: BackendName;
  supported: boolean;
  reason?: string;
  attachPoint?: string;
  /** When supported: how the hot path reads kernel memory on this kernel (readsNote). */
  reads?: string;
  /** When supported: techniques that open files unseen by it on this kernel. */
  gaps?: string[];
}

/** The startup warning for a backend's gaps (empty list: nothing to warn about). */
export function gapWarning(backend: BackendName, gaps: readonly string[]): string | null {
  if (gaps.length === 0) return null;
  return `the ${backend} backend does not see files opened by: ${gaps.join('; ')} (docs/backends.md)`;
}

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_PREFERENCE as readonly string[]).includes(s);
}

export function backendSpec(name: BackendName): BackendSpec<BackendName> {
  const spec = BACKENDS.find((b) => b.name === name);
  if (!spec) throw new KiveError('KIVE_USAGE', `unknown backend "${name}" (one of ${BACKEND_PREFERENCE.join(', ')})`);
  return spec;
}

/** Object file of a backend, as the Makefile names it under build/bpf/. */
export function objectFile(name: BackendName): string {
  return backendSpec(name).objectFile;
}

/** A --backend value checked against the registry. Throws KIVE_USAGE naming the choices. */
export function parseBackendChoice(value: string): BackendName | 'auto' {
  if (value === 'auto' || isBackendName(value)) return value;
  throw new KiveError('KIVE_USAGE', `--backend must be one of ${BACKEND_CHOICES.join(', ')}, got "${value}"`);
}

/** The best backend that probed as supported, or null when none did. */
export function selectBackend(results: readonly ProbeResult[]): BackendName | null {
  for (const name of BACKEND_PREFERENCE) {
    if (results.some((r) => r.backend === name && r.supported)) return name;
  }
  return null;
}
