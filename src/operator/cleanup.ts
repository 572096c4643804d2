// Removing Kive from a cluster without leaving anything stuck: what `kive cleanup` does,
// and the Helm chart's pre-delete hook runs (docs/operator.md, "Uninstall").
//
// Every KivePolicy carries the finalizer POLICY_FINALIZER while an operator runs, so that
// its KiveData go before it does. Once the operator is gone nothing removes it: a policy
// deleted afterwards, or the operator's namespace (which holds policies too), would wait
// forever. So, in this order:
//   1. the operator DaemonSet is deleted and its pods are waited for: a running operator
//      would put the finalizer back on every policy at its next reconcile;
//   2. the finalizer is removed from every KivePolicy, in all namespaces (the policies
//      themselves are the user's and stay);
//   3. every KiveData and every Kive Lease of the operator's namespace is deleted.
// If the operator's pods do not go within the timeout, nothing of 2 and 3 is done and the
// error says which pods are left: removing finalizers under running operators would be
// undone, and a half cleanup is worse than a clear failure.

import type { KiveData, KivePolicy } from '../api/v1/types.ts';
import { KIVE_DATA, KIVE_POLICIES } from '../api/v1/resources.ts';
import { POLICY_FINALIZER } from '../controllers/policy-status.ts';
import { KiveError } from '../errors.ts';
import { realClock, sleep, type Clock } from '../k8s/clock.ts';
import { hasFinalizer, removeFinalizer, retryOnConflict } from '../k8s/finalizers.ts';
import { listAll } from '../k8s/list.ts';
import type { Logger } from '../k8s/log.ts';
import { LEASES, objectPath, PODS, type KubeObject, type ResourceRef } from '../k8s/resource.ts';
import { isNotFound, type Requester } from '../k8s/rest.ts';
import { kernelIdOfLease, POD_CONTROLLER } from './names.ts';

export const DAEMON_SETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true };

export interface CleanupOptions {
  client: Requester;
  /** The operator's namespace: its DaemonSet, KiveData and Leases. */
  namespace: string;
  /** The operator's DaemonSet (the chart's: kive-operator). */
  daemonSet: string;
  /** How long to wait for the operator's pods to stop. */
  timeoutMs: number;
  log: Logger;
  clock?: Clock;
}

export interface CleanupReport {
  daemonSetDeleted: boolean;
  finalizersRemoved: number;
  kiveDataDeleted: number;
  leasesDeleted: number;
}

interface OwnedPod extends KubeObject {
  metadata: NonNullable<KubeObject['metadata']> & { ownerReferences?: Array<{ kind: string; name: string }> };
}

async function deleteIfThere(client: Requester, ref: ResourceRef, namespace: string, name: string, query?: Record<string, string>): Promise<boolean> {
  try {
    await client.request({ method: 'DELETE', path: objectPath(ref, namespace, name), ...(query ? { query } : {}) });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The names of the pods the DaemonSet `name` made that still exist (being deleted or not). */
async function operatorPods(client: Requester, namespace: string, name: string): Promise<string[]> {
  const { items } = await listAll<OwnedPod>(client, PODS, { namespace });
  return items
    .filter((p) => (p.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet' && o.name === name))
    .map((p) => p.metadata.name ?? '');
}

export async function cleanupCluster(opts: CleanupOptions): Promise<CleanupReport> {
  const { client, namespace, log } = opts;
  const clock = opts.clock ?? realClock;

  // 1. No operator left to put a finalizer back. Background propagation: the garbage
  //    collector deletes the pods, each stops within its grace period.
  const daemonSetDeleted = await deleteIfThere(client, DAEMON_SETS, namespace, opts.daemonSet, { propagationPolicy: 'Background' });
  log.info({ namespace, daemonSet: opts.daemonSet, deleted: daemonSetDeleted }, daemonSetDeleted ? 'operator DaemonSet deleted; waiting for its pods to stop' : 'no operator DaemonSet; checking for its pods');
  const deadline = clock.now() + opts.timeoutMs;
  for (;;) {
    const left = await operatorPods(client, namespace, opts.daemonSet);
    if (left.length === 0) break;
    if (clock.now() >= deadline) {
      throw new KiveError('KIVE_TIMEOUT', `operator pods still there after ${Math.round(opts.timeoutMs / 1000)} s: ${left.join(', ')} (namespace ${namespace}); nothing else was changed, run the cleanup again once they are gone`);
    }
    await sleep(clock, 1_000);
  }

  const kiveData = (await listAll<KiveData>(client, KIVE_DATA, { namespace })).items;
  const leases = (await listAll<KubeObject>(client, LEASES, { namespace })).items
    .map((l) => l.metadata?.name ?? '')
    .filter((name) => name === POD_CONTROLLER || kernelIdOfLease(name) !== undefined);
  if (!daemonSetDeleted && kiveData.length === 0 && leases.length === 0) {
    // A second run, or the operator's namespace already gone: its policies may still hold
    // the finalizer. Or a wrong --namespace: then an operator running elsewhere puts the
    // finalizers back at its next reconcile. Said, not guessed.
    log.warn({ namespace, daemonSet: opts.daemonSet }, 'no DaemonSet, KiveData or Kive Lease in this namespace; removing the finalizers anyway (if an operator runs in another namespace, pass its --namespace)');
  }

  // 2. The policies stay; only Kive's finalizer goes. Each is re-read on a conflict.
  let finalizersRemoved = 0;
  const { items: policies } = await listAll<KivePolicy>(client, KIVE_POLICIES);
  for (const listed of policies.filter((p) => hasFinalizer(p, POLICY_FINALIZER))) {
    const { name, namespace: ns } = listed.metadata;
    let fresh = listed;
    let reread = false;
    const removed = await retryOnConflict(async () => {
      if (reread) fresh = await client.request<KivePolicy>({ method: 'GET', path: objectPath(KIVE_POLICIES, ns, name) });
      reread = true; // a 409: the next try reads it again
      if (!hasFinalizer(fresh, POLICY_FINALIZER)) return false;
      await removeFinalizer(client, KIVE_POLICIES, fresh, POLICY_FINALIZER);
      return true;
    }).catch((err: unknown) => {
      if (isNotFound(err)) return false; // deleted meanwhile
      throw err;
    });
    if (removed) finalizersRemoved++;
  }

  // 3. What only the operator's namespace holds.
  let kiveDataDeleted = 0;
  for (const d of kiveData) {
    if (await deleteIfThere(client, KIVE_DATA, namespace, d.metadata.name)) kiveDataDeleted++;
  }
  let leasesDeleted = 0;
  for (const name of leases) {
    if (await deleteIfThere(client, LEASES, namespace, name)) leasesDeleted++;
  }

  const report = { daemonSetDeleted, finalizersRemoved, kiveDataDeleted, leasesDeleted };
  log.info({ namespace, ...report }, 'cleanup done: no Kive finalizer, KiveData or Lease left');
  return report;
}
