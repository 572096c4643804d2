// Builds a KiveAlert v1 from a kernel event and what we know about its trap. Pure: no
// I/O, no clock; the caller passes the process details and the wall-clock time.

import type { KiveAlertV1, TrapExclusions } from '../api/v1/types.ts';
import type { KernelEvent } from '../kernel/event.ts';

/** The fields of a kernel event an alert needs (a type-only view of src/kernel's event). */
export type AccessEvent = Pick<KernelEvent, 'ino' | 'dev' | 'mask' | 'op' | 'pid' | 'tgid' | 'uid' | 'gid' | 'comm'> &
  Partial<Pick<KernelEvent, 'repeats'>>;

/** Everything about one armed trap that ends up in its alerts. */
export interface TrapContext {
  policyName: string;
  path: string;
  customMetadata: Readonly<Record<string, string>>;
  podName: string;
  podNamespace: string;
  containerId: string;
  containerName: string;
  /** The pod's uid, when the source knows it (KiveData): names the pod in its Kubernetes Events. */
  podUid?: string;
  /** Where to POST the alert, if anywhere. */
  callback?: string;
  /** Node of the container, when it differs from the node that raised the alert. */
  nodeName?: string;
  /** Accesses that raise no alert (src/traps/exclude.ts). */
  exclude?: TrapExclusions;
  /** When Kive first created the file (ms since the epoch): opens exclude.plantingWindowSeconds. */
  plantedAtMs?: number;
  /**
   * The namespace of a tenant's policy (one outside the operator's namespace): its alerts
   * never name a pod of another namespace as the accessor (tenantView).
   */
  tenantNamespace?: string;
}

export interface AlertEnvironment {
  kernelId: string;
  nodeName: string;
}

export interface ProcessDetails {
  binary: string;
  cwd: string;
  arguments: string;
  /**
   * Which of the three fields above are incomplete: taken from the kernel's capture
   * when it was cut short (KIVE_EVF_*_TRUNC). Absent or empty: all are whole.
   */
  truncated?: readonly TruncatedProcessField[];
  /** The accessing process's own container or the host; absent when nobody mapped cgroups. */
  accessor?: Accessor;
}

export type TruncatedProcessField = 'binary' | 'cwd' | 'arguments';

/**
 * Who accessed the file, as opposed to whose file it is (`pod`): from the event's cgroup
 * id, placed in the node's cgroup v2 tree (src/alerts/accessor.ts). `host: true`: a
 * cgroup of the tree that no container runtime named, i.e. a host process. `host:
 * false`: a container's cgroup; `pod` when a pod on this node owns that container (its
 * `container.name` is then the pod's name for it, else empty). Neither (`host` absent):
 * Kive could not place the cgroup, and `unknown-reason` says why. The cgroup id is a
 * decimal string, as it is a 64-bit kernfs inode number.
 */
export type Accessor =
  | { host: true; 'cgroup-id': string }
  | { host: false; 'cgroup-id': string; pod?: { name: string; namespace: string }; container: { id: string; name: string } }
  | { host?: never; 'cgroup-id': string; 'unknown-reason': string };

/** Alert as built: the v1 fields plus a few Kive extensions (allowed by the schema). */
export type KiveAlert = KiveAlertV1 & {
  accessor?: Accessor;
  metadata: KiveAlertV1['metadata'] & { device: number; operation: string; repeats?: number };
  process: KiveAlertV1['process'] & { comm: string; truncated?: TruncatedProcessField[] };
};

declare global {
  interface JSON {
    /** V8 >= 11.4 (Node >= 21): a value JSON.stringify writes verbatim. */
    rawJSON(text: string): unknown;
  }
}

/**
 * Inode numbers are 64-bit, and overlayfs (xino) sets high bits, so some do not fit in a
 * double. Those are written as exact JSON digits instead of a rounded number.
 */
function exactInteger(n: bigint): number {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : (JSON.rawJSON(n.toString()) as number);
}

export function buildAlert(
  trap: TrapContext,
  event: AccessEvent,
  process: ProcessDetails,
  env: AlertEnvironment,
  wallClockMs: number,
): KiveAlert {
  return {
    'kive-alert-version': 'v1',
    'kive-policy-name': trap.policyName,
    timestamp: new Date(wallClockMs).toISOString(),
    metadata: {
      path: trap.path,
      inode: exactInteger(event.ino),
      mask: event.mask,
      'kernel-id': env.kernelId,
      device: event.dev,
      operation: event.op,
      // Only when the kernel folded repeats into this event, as for process.truncated.
      ...(event.repeats ? { repeats: event.repeats } : {}),
    },
    'custom-metadata': { ...trap.customMetadata },
    pod: {
      name: trap.podName,
      namespace: trap.podNamespace,
      container: { id: trap.containerId, name: trap.containerName },
    },
    node: { name: trap.nodeName || env.nodeName },
    process: {
      pid: event.pid,
      tgid: event.tgid,
      uid: event.uid,
      gid: event.gid,
      binary: process.binary,
      cwd: process.cwd,
      arguments: process.arguments,
      comm: event.comm,
      // Only when something was cut, so that whole alerts keep their v1 shape exactly.
      ...(process.truncated?.length ? { truncated: [...process.truncated] } : {}),
    },
    // An extra top-level field: the v1 `pod` stays the file's, as docs/alerts.md says.
    ...(process.accessor ? { accessor: copyAccessor(process.accessor) } : {}),
  };
}

/** A copy with a fixed key order, the order serialize.ts writes. */
export function copyAccessor(a: Accessor): Accessor {
  if ('unknown-reason' in a) return { 'cgroup-id': a['cgroup-id'], 'unknown-reason': a['unknown-reason'] };
  if (a.host) return { host: true, 'cgroup-id': a['cgroup-id'] };
  return {
    host: false,
    'cgroup-id': a['cgroup-id'],
    ...(a.pod ? { pod: { name: a.pod.name, namespace: a.pod.namespace } } : {}),
    container: { id: a.container.id, name: a.container.name },
  };
}

const tenantViews = new WeakMap<ProcessDetails, ProcessDetails>();

/**
 * The process details as a tenant's trap may see them: an accessor in a pod of another
 * namespace is not named (docs/operator.md, "Namespaces and RBAC": a tenant learns
 * nothing of other namespaces' pods), it is an accessor Kive does not disclose. One copy
 * per details object, so the serializer's cache still works.
 */
export function tenantView(trap: TrapContext, p: ProcessDetails): ProcessDetails {
  const a = p.accessor;
  if (trap.tenantNamespace === undefined || a === undefined || a.host !== false || a.pod === undefined || a.pod.namespace === trap.tenantNamespace) return p;
  let view = tenantViews.get(p);
  if (view === undefined) {
    view = { ...p, accessor: { 'cgroup-id': a['cgroup-id'], 'unknown-reason': `a container of another namespace, not shown to a policy of namespace ${trap.tenantNamespace}` } };
    tenantViews.set(p, view);
  }
  return view;
}
