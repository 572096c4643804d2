// Pod cleanup, one of the pod controller's reconcilers (pod-controller.ts). Key: a Pod.
// The KiveData made for a pod go when the pod can no longer run the containers they
// watch: the pod is deleted, has finished, or was replaced by a new pod of the same name
// (a new uid). A new pod needs nothing from here: each node's discover controller
// watches the pods of its own node.

import type { KiveData } from '../api/v1/types.ts';
import type { Reconciler } from '../k8s/controller.ts';
import type { Logger } from '../k8s/log.ts';
import { podIsFinished, type Pod } from './match.ts';
import { deleteEach, type DeleteKiveData, type PodKey } from './pod-controller.ts';

export interface PodCleanupCaches {
  pod(key: PodKey): Pod | undefined;
  /** KiveData made for a pod of this `namespace/name`, whatever its uid. */
  kiveDataOfPod(key: PodKey): readonly KiveData[];
}

export interface PodCleanupDeps {
  caches: PodCleanupCaches;
  deleteKiveData: DeleteKiveData;
  log: Logger;
}

export function createPodCleanupReconciler(deps: PodCleanupDeps): Reconciler<PodKey> {
  const { caches, log } = deps;

  return async function reconcilePodCleanup(key) {
    // 1. Load the pod (undefined: deleted) and the KiveData made for its name.
    const pod = caches.pod(key);
    const data = caches.kiveDataOfPod(key);

    // 2. Stale: the pod is gone or finished, or the KiveData was made for an earlier pod
    //    of the same name (new uid).
    const stale = data.filter((d) => pod === undefined || podIsFinished(pod) || d.spec.podUid !== pod.metadata.uid);
    if (stale.length === 0) return;

    // 3. Delete them. The loaders disarm them when the deletions reach their caches.
    log.info({ pod: key, kiveData: stale.length }, 'pod gone or finished; deleting its KiveData');
    await deleteEach(deps.deleteKiveData, stale);
  };
}
