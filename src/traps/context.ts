// The one place a TrapContext (what an alert says about its trap) is built, from
// whichever source armed the trap: a KiveData (controllers/kivedata.ts) or a policy
// trap on the host (standalone/host-traps.ts). Absent pod and container fields are
// empty strings, as KiveAlert v1 requires them.

import type { TrapContext } from '../alerts/build.ts';
import type { TrapExclusions } from '../api/v1/types.ts';

export interface TrapContextSource {
  policyName: string;
  path: string;
  metadata?: Readonly<Record<string, string>> | undefined;
  callback?: string | undefined;
  pod?: { name?: string | undefined; namespace?: string | undefined; uid?: string | undefined } | undefined;
  container?: { id?: string | undefined; name?: string | undefined } | undefined;
  /** The node of the container, when the source knows it. */
  nodeName?: string | undefined;
  exclude?: TrapExclusions | undefined;
  /** When Kive first created the file (ms since the epoch). */
  plantedAtMs?: number | undefined;
  /** A tenant policy's namespace (TrapContext.tenantNamespace). */
  tenantNamespace?: string | undefined;
}

export function trapContext(s: TrapContextSource): TrapContext {
  return {
    policyName: s.policyName,
    path: s.path,
    customMetadata: { ...(s.metadata ?? {}) },
    podName: s.pod?.name ?? '',
    podNamespace: s.pod?.namespace ?? '',
    containerId: s.container?.id ?? '',
    containerName: s.container?.name ?? '',
    ...(s.pod?.uid ? { podUid: s.pod.uid } : {}),
    ...(s.callback ? { callback: s.callback } : {}),
    ...(s.nodeName ? { nodeName: s.nodeName } : {}),
    ...(s.exclude ? { exclude: s.exclude } : {}),
    ...(s.tenantNamespace !== undefined ? { tenantNamespace: s.tenantNamespace } : {}),
    ...(s.plantedAtMs !== undefined && Number.isFinite(s.plantedAtMs) ? { plantedAtMs: s.plantedAtMs } : {}),
  };
}
