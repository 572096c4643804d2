// The pod controller of docs/operator.md, elected once per cluster, is three reconcilers,
// each with its own work queue and its own kind of key:
//   pod-cleanup.ts   key PodKey     a pod's KiveData go when its containers can no longer run;
//   policy-status.ts key PolicyKey  the policy's finalizer and its status, folded from the nodes;
//   kernel-gc.ts     key KERNELS    KiveData of kernels that stopped running are collected.
// This file holds what they share: the key types and the delete loop.
//
// The keys are branded strings: a pod's `namespace/name` and a policy's are both strings
// to the work queue, but the compiler will not let one be queued to the other's
// controller, and no key carries a prefix that must be parsed back.

import type { KiveData } from '../api/v1/types.ts';
import { objectKey } from '../k8s/resource.ts';

export type PodKey = string & { readonly __kind: 'Pod' };
export type PolicyKey = string & { readonly __kind: 'KivePolicy' };

type Meta = { metadata?: { namespace?: string; name?: string } };

/** `namespace/name` of a Pod: the informer cache's key. */
export const podKey = (pod: Meta): PodKey => objectKey(pod) as PodKey;
/** `namespace/name` of a KivePolicy: the informer cache's key. */
export const policyKey = (policy: Meta): PolicyKey => objectKey(policy) as PolicyKey;
/** The pod a KiveData was made for. */
export const podKeyOfData = (d: KiveData): PodKey => podKey({ metadata: { namespace: d.spec.podNamespace ?? '', name: d.spec.podName ?? '' } });
/** The policy a KiveData belongs to. */
export const policyKeyOfData = (d: KiveData): PolicyKey =>
  policyKey({ metadata: { namespace: d.spec.policyNamespace ?? '', name: d.spec.policyName ?? '' } });

/** Deletes a KiveData; already gone counts as done. */
export type DeleteKiveData = (namespace: string, name: string) => Promise<void>;

/** Deletes each of `data`, one at a time (a failure stops here; the retry starts over). */
export async function deleteEach(del: DeleteKiveData, data: readonly KiveData[]): Promise<number> {
  for (const d of data) await del(d.metadata.namespace ?? '', d.metadata.name);
  return data.length;
}
