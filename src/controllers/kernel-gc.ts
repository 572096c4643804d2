// Dead-kernel collection, one of the pod controller's reconcilers (pod-controller.ts).
// A KiveData names a file on one running kernel (its boot id), and a node's report in a
// policy's status.nodes says which kernel wrote it. When that kernel stops (the node
// rebooted: a new boot id; the node is gone; Kive was removed from it) nothing on that
// node will ever delete them, so this does, once the kernel's loader Lease has stayed
// unrenewed for a grace period; then that Lease goes too, or every reboot of every node
// would leave one behind for good. Liveness is judged from this process's own observations
// of the Lease changing (every renewal changes its resourceVersion), never by comparing
// another machine's clock with ours.
//
// One key, KERNELS: the job looks at every kernel at once and runs again on a timer.

import type { KiveData, KivePolicy, NodeReport } from '../api/v1/types.ts';
import type { Reconciler } from '../k8s/controller.ts';
import type { Logger } from '../k8s/log.ts';
import { deleteEach, type DeleteKiveData } from './pod-controller.ts';

export const KERNELS = 'all-kernels';
export type KernelsKey = typeof KERNELS;

export interface KernelGcCaches {
  allKiveData(): readonly KiveData[];
  allPolicies(): readonly KivePolicy[];
  /** Kernel ids whose loader Lease exists, with its resourceVersion (changes on renewal). */
  loaderLeases(): ReadonlyMap<string, string>;
}

export interface KernelGcDeps {
  caches: KernelGcCaches;
  deleteKiveData: DeleteKiveData;
  /**
   * Deletes the loader Lease of `kernel` only if it is still at `resourceVersion` (a
   * loader that renewed it meanwhile keeps it); a Lease already gone is done.
   */
  deleteLoaderLease(kernel: string, resourceVersion: string): Promise<void>;
  /**
   * Removes `report` from the policy's status.nodes if it is still exactly that report
   * (the node may have written a new one meanwhile, e.g. after a reboot).
   */
  removeNodeReport(policy: KivePolicy, report: NodeReport): Promise<void>;
  log: Logger;
  now: () => number;
  /** How long a kernel's loader Lease may stay unrenewed before its KiveData go. */
  kernelGraceMs?: number;
}

export const DEFAULT_KERNEL_GRACE_MS = 5 * 60_000;

export function createKernelGcReconciler(deps: KernelGcDeps): Reconciler<KernelsKey> {
  const { caches, log } = deps;
  const grace = deps.kernelGraceMs ?? DEFAULT_KERNEL_GRACE_MS;
  /** kernel id -> the Lease resourceVersion last seen, and our local time when it last changed. */
  const seen = new Map<string, { rv: string; at: number }>();

  return async function reconcileKernels() {
    // 1. Every kernel some KiveData, node report or loader Lease names; note whose Lease
    //    changed since the last run.
    const now = deps.now();
    const leases = caches.loaderLeases();
    const all = caches.allKiveData();
    const reports = caches.allPolicies().flatMap((policy) => (policy.status?.nodes ?? []).map((report) => ({ policy, report })));
    const kernels = new Set([...all.map((d) => d.spec.kernelId ?? ''), ...reports.map((r) => r.report.kernelId ?? ''), ...leases.keys()]);
    for (const kernel of kernels) {
      const rv = leases.get(kernel) ?? '';
      const last = seen.get(kernel);
      if (last === undefined || last.rv !== rv) seen.set(kernel, { rv, at: now });
    }

    for (const [kernel, last] of seen) {
      // 2. A kernel nothing names needs no watching.
      if (!kernels.has(kernel)) {
        seen.delete(kernel);
        continue;
      }
      // 3. Silent for longer than the grace: its KiveData, its nodes' reports (whose removal
      //    changes the policy, and policy-status folds Ready again) and last its Lease go.
      if (now - last.at < grace) continue;
      const data = all.filter((d) => (d.spec.kernelId ?? '') === kernel);
      const stale = reports.filter((r) => (r.report.kernelId ?? '') === kernel);
      const lease = leases.get(kernel);
      log.info({ kernelId: kernel, kiveData: data.length, nodeReports: stale.length, loaderLease: lease !== undefined, silentForMs: now - last.at }, 'kernel no longer running; deleting its KiveData, node reports and loader Lease');
      await deleteEach(deps.deleteKiveData, data);
      for (const { policy, report } of stale) await deps.removeNodeReport(policy, report);
      // Last, so a failure above leaves the Lease that makes the next run try again.
      if (lease !== undefined) await deps.deleteLoaderLease(kernel, lease);
      seen.delete(kernel);
    }

    // 4. Look again well within the grace, so a dead kernel is collected soon after it.
    return { requeueAfterMs: Math.max(1_000, Math.min(grace / 2, 30_000)) };
  };
}
