// Exclusions (a trap's `exclude`, docs/alerts.md "Exclusions"): which accesses raise no
// alert. Pure: the alert pipeline asks, once per (event, trap), with the process details
// it already looked up, and counts what is excluded (nothing is dropped unseen).
//
// Every rule fails closed: an accessor Kive cannot place (no cgroup v2, an unknown
// cgroup), a binary path the kernel cut short, or a clock that says "before the file
// existed" never excludes; the access is alerted.

import type { Accessor, ProcessDetails, TrapContext } from '../alerts/build.ts';

/** Why an access was excluded: the `reason` label of kive_alerts_excluded_total. */
export type ExclusionReason = 'binary' | 'container' | 'planting-window';

export function exclusionOf(trap: TrapContext, process: ProcessDetails, timeMs: number): ExclusionReason | undefined {
  const ex = trap.exclude;
  if (ex === undefined) return undefined;
  if (ex.plantingWindowSeconds !== undefined && trap.plantedAtMs !== undefined) {
    const since = timeMs - trap.plantedAtMs;
    if (since >= 0 && since <= ex.plantingWindowSeconds * 1_000) return 'planting-window';
  }
  const who: Accessor | undefined = process.accessor;
  if (ex.binaries !== undefined && who?.host === true && !process.truncated?.includes('binary') && ex.binaries.includes(process.binary)) {
    return 'binary';
  }
  if (ex.containers !== undefined && who?.host === false && who.pod !== undefined && who.pod.namespace === trap.podNamespace && ex.containers.includes(who.container.name)) {
    return 'container';
  }
  return undefined;
}
