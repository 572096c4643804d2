// Names and labels of KiveData. Deterministic, so creating twice is harmless, and
// collision-free: the original implementation named KiveData after pod, namespace and
// inode, so two traps on one file in one pod overwrote each other.

import { createHash } from 'node:crypto';
import type { KivePolicy, KiveTrap } from '../api/v1/types.ts';

export const LABELS = {
  kernelId: 'kivebpf.san7o.github.io/kernel-id',
  trapId: 'kivebpf.san7o.github.io/trap-id',
  policy: 'kivebpf.san7o.github.io/policy',
  policyNamespace: 'kivebpf.san7o.github.io/policy-namespace',
  node: 'kivebpf.san7o.github.io/node',
  podUid: 'kivebpf.san7o.github.io/pod-uid',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const MANAGED_BY = 'kive';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Keys sorted, so equal traps hash equally whatever the order of their fields, and an
 * object read back from the API server (which writes map keys sorted) compares equal to
 * the one built here.
 */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The id of one trap of one policy: a hash of the policy's identity and the trap's
 * content (so an edited trap is a new trap, and its KiveData are rebuilt). 32 hex digits
 * fit a label value (63 characters at most).
 */
export function trapId(policy: Pick<KivePolicy, 'metadata'>, trap: KiveTrap): string {
  return sha256(`${policy.metadata.namespace ?? ''}/${policy.metadata.name}\n${canonical(trap)}`).slice(0, 32);
}

const dnsSafe = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');

/**
 * `kive-data-<pod>-<namespace>-<container>-<hash>`: readable in `kubectl get`, unique by
 * the hash of (trap, pod uid, container name). One KiveData per trap and container; a
 * restarted container updates its KiveData in place (new inode) rather than adding one.
 */
export function kiveDataName(trap: string, podUid: string, podName: string, podNamespace: string, container: string): string {
  const hash = sha256(`${trap}\n${podUid}\n${container}`).slice(0, 12);
  const readable = dnsSafe(`${podName}-${podNamespace}-${container}`).slice(0, 200).replace(/-+$/, '');
  return `kive-data-${readable}-${hash}`;
}

/** Label values are at most 63 characters of [A-Za-z0-9_.-]; a longer name is hashed. */
export function labelValue(s: string): string {
  const safe = s.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (safe.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(safe)) return safe;
  return `h-${sha256(s).slice(0, 40)}`;
}
