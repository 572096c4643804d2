// The loader controller: one per kernel (the holder of the Lease named after the kernel
// id). It keeps the trap model (src/traps/model.ts), and so the kernel's map of armed
// files, equal to the KiveData labelled with this kernel id, and deletes KiveData whose
// trap no longer exists. Each KiveData is one trap of the model, named by its cache key,
// arming the one file it names.

import type { KiveData, KivePolicy } from '../api/v1/types.ts';
import type { ReconcileResult } from '../k8s/controller.ts';
import type { Logger } from '../k8s/log.ts';
import type { TrapModel } from '../traps/model.ts';
import { fileOf, trapContextOf } from './kivedata.ts';

export interface LoaderCaches {
  kiveData(key: string): KiveData | undefined;
  policy(key: string): KivePolicy | undefined;
  /** False until the policy cache has listed once: never judge a trap gone before. */
  policiesSynced(): boolean;
}

export interface LoaderDeps {
  kernelId: string;
  caches: LoaderCaches;
  traps: TrapModel;
  deleteKiveData(namespace: string, name: string): Promise<void>;
  /** trapIds of a policy (see naming.trapId). */
  trapIdsOf(policy: KivePolicy): ReadonlySet<string>;
  log: Logger;
}

export function createLoaderReconciler(deps: LoaderDeps) {
  const { caches, traps, log } = deps;

  return async function reconcileLoader(key: string): Promise<ReconcileResult> {
    // 1. Load the KiveData. Gone: disarm it.
    const data = caches.kiveData(key);
    if (data === undefined || data.spec.kernelId !== deps.kernelId) {
      traps.remove(key);
      return;
    }

    // 2. Its trap must still exist; if not, the KiveData is garbage. (Its deletion comes
    //    back through the informer and disarms it in step 1.)
    if (caches.policiesSynced()) {
      const policy = caches.policy(`${data.spec.policyNamespace ?? ''}/${data.spec.policyName ?? ''}`);
      const trapId = data.spec.trapId ?? '';
      if (policy === undefined || policy.metadata.deletionTimestamp !== undefined || !deps.trapIdsOf(policy).has(trapId)) {
        log.info({ kiveData: key, policy: data.spec.policyName, trapId }, 'trap no longer exists; deleting its KiveData');
        traps.remove(key);
        await deps.deleteKiveData(data.metadata.namespace ?? '', data.metadata.name);
        return;
      }
    }

    // 3. Arm it (a changed inode moves the map entry).
    traps.set(key, [fileOf(data)], trapContextOf(data));
  };
}
