// The pod controller while this process leads the cluster (Lease POD_CONTROLLER): its
// three reconcilers (src/controllers/pod-controller.ts) over shared informers, each with
// its own Controller and so its own work queue. Separate queues keep each key type on
// its own (no prefixes to parse) and keep one reconciler's backoff from delaying
// another's keys: a policy whose status write keeps failing does not hold up the
// cleanup of a deleted pod. All three start and stop together with the leadership term.

import type { KiveData, KivePolicy } from '../api/v1/types.ts';
import { KIVE_DATA } from '../api/v1/resources.ts';
import { createKernelGcReconciler, KERNELS, type KernelsKey } from '../controllers/kernel-gc.ts';
import type { Pod } from '../controllers/match.ts';
import { createPodCleanupReconciler } from '../controllers/pod-cleanup.ts';
import { podKey, podKeyOfData, policyKey, policyKeyOfData, type PodKey, type PolicyKey } from '../controllers/pod-controller.ts';
import { createPolicyStatusReconciler } from '../controllers/policy-status.ts';
import { Controller } from '../k8s/controller.ts';
import { Informer } from '../k8s/informer.ts';
import type { Logger } from '../k8s/log.ts';
import { LEASES, PODS, type KubeObject } from '../k8s/resource.ts';
import type { KubeClient } from '../k8s/rest.ts';
import { kernelIdOfLease } from './names.ts';
import { deleteKiveData, deleteLoaderLease, policyStatusWriter, removeNodeReport } from './writers.ts';

export interface PodControllerOptions {
  client: KubeClient;
  /** Where KiveData and Leases live. */
  namespace: string;
  kernelGraceMs?: number;
  log: Logger;
}

/** Runs the three reconcilers until `leading` aborts, then stops them and their informers. */
export async function runPodController(opts: PodControllerOptions, policies: Informer<KivePolicy & KubeObject>, leading: AbortSignal): Promise<void> {
  const { client, log } = opts;
  const pods = new Informer<Pod & KubeObject>({ client, resource: PODS, logger: log });
  // Only the operator's namespace holds KiveData (see the loader's informer in operator.ts).
  const data = new Informer<KiveData & KubeObject>({
    client,
    resource: KIVE_DATA,
    namespace: opts.namespace,
    indexers: { pod: (d) => [podKeyOfData(d)], policy: (d) => [policyKeyOfData(d)] },
    logger: log,
  });
  const leases = new Informer<KubeObject>({ client, resource: LEASES, namespace: opts.namespace, logger: log });
  const del = (namespace: string, name: string) => deleteKiveData(client, namespace, name);

  const cleanup = new Controller<PodKey>({
    name: 'pod-cleanup',
    logger: log,
    reconcile: createPodCleanupReconciler({
      caches: { pod: (k) => pods.store.get(k), kiveDataOfPod: (k) => data.store.byIndex('pod', k) },
      deleteKiveData: del,
      log,
    }),
  });
  const status = new Controller<PolicyKey>({
    name: 'policy-status',
    logger: log,
    reconcile: createPolicyStatusReconciler({
      caches: { policy: (k) => policies.store.get(k), kiveDataOfPolicy: (k) => data.store.byIndex('policy', k) },
      writer: policyStatusWriter(client),
      log,
      now: Date.now,
    }),
  });
  const kernels = new Controller<KernelsKey>({
    name: 'kernel-gc',
    logger: log,
    reconcile: createKernelGcReconciler({
      caches: {
        allKiveData: () => data.store.list(),
        allPolicies: () => policies.store.list(),
        loaderLeases: () => {
          const byKernel = new Map<string, string>();
          for (const l of leases.store.list()) {
            const kernel = kernelIdOfLease(l.metadata?.name ?? '');
            if (kernel !== undefined) byKernel.set(kernel, l.metadata?.resourceVersion ?? '');
          }
          return byKernel;
        },
      },
      deleteKiveData: del,
      removeNodeReport: (policy, report) => removeNodeReport(client, policy, report),
      deleteLoaderLease: (kernel, rv) => deleteLoaderLease(client, opts.namespace, kernel, rv),
      log,
      now: Date.now,
      ...(opts.kernelGraceMs !== undefined ? { kernelGraceMs: opts.kernelGraceMs } : {}),
    }),
  });
  const controllers = [cleanup, status, kernels];
  try {
    cleanup.watch(pods, (p) => [podKey(p)]);
    cleanup.watch(data, (d) => [podKeyOfData(d)]);
    status.watch(policies, (p) => [policyKey(p)]);
    status.watch(data, (d) => [policyKeyOfData(d)]);
    pods.start();
    data.start();
    leases.start();
    await Promise.all([policies.waitForSync(leading), pods.waitForSync(leading), data.waitForSync(leading), leases.waitForSync(leading)]);
    kernels.enqueue(KERNELS); // then it requeues itself
    for (const c of controllers) c.start();
    log.info({}, 'pod controller leading');
    await new Promise<void>((resolve) => (leading.aborted ? resolve() : leading.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    await Promise.all(controllers.map((c) => c.stop()));
    await Promise.all([pods.stop(), data.stop(), leases.stop()]);
  }
}
