// Policy status, one of the pod controller's reconcilers (pod-controller.ts). Key: a
// KivePolicy. It owns the policy's finalizer, so a deleted policy's KiveData go on every
// node before the policy does, and it folds the nodes' reports (status.nodes, each
// written by that node's discover controller) into the Ready condition and the counts.

import type { Condition, KiveData, KivePolicy, KivePolicyStatus, NodeReport } from '../api/v1/types.ts';
import type { Reconciler } from '../k8s/controller.ts';
import type { Logger } from '../k8s/log.ts';
import { deleteEach, type DeleteKiveData, type PolicyKey } from './pod-controller.ts';

export const POLICY_FINALIZER = 'kivebpf.san7o.github.io/kivedata-cleanup';

export interface PolicyStatusCaches {
  policy(key: PolicyKey): KivePolicy | undefined;
  kiveDataOfPolicy(key: PolicyKey): readonly KiveData[];
}

export interface PolicyStatusWriter {
  deleteKiveData: DeleteKiveData;
  addFinalizer(policy: KivePolicy): Promise<void>;
  removeFinalizer(policy: KivePolicy): Promise<void>;
  applyPolicyStatus(policy: KivePolicy, status: KivePolicyStatus): Promise<void>;
}

export interface PolicyStatusDeps {
  caches: PolicyStatusCaches;
  writer: PolicyStatusWriter;
  log: Logger;
  now: () => number;
  /**
   * The shortest time between two status writes of one policy (default 1 s). While a
   * node creates thousands of KiveData, each one changes armedTraps: without this the
   * status was rewritten once per KiveData (bench/scale.ts), and every write woke the
   * policy's watchers again. A change inside the interval is written when it ends.
   */
  minWriteIntervalMs?: number;
}

/** The counts summed over the nodes' reports. */
export function sumReports(nodes: readonly NodeReport[]): { matched: number; armed: number; pending: number } {
  let matched = 0;
  let armed = 0;
  let pending = 0;
  for (const n of nodes) {
    matched += n.matchedContainers ?? 0;
    armed += n.armedTraps ?? 0;
    pending += n.pendingContainers ?? 0;
  }
  return { matched, armed, pending };
}

/**
 * The Ready condition from the nodes' reports. Pure. In order:
 *   a problem on any node          -> False, that problem's reason (a trap failed);
 *   a trap without matchAny        -> False NoMatchAny;
 *   at least one trap armed        -> True Armed, the pending containers counted in the
 *                                     message (a rollout starting a container next to an
 *                                     armed one must not flip Ready);
 *   nothing armed, some pending    -> False ContainersPending;
 *   nothing matched                -> False NoMatchingContainers.
 */
export function readyCondition(policy: KivePolicy, previous: Condition | undefined, nowIso: string): Condition {
  const nodes = policy.status?.nodes ?? [];
  const problems = nodes.flatMap((n) => n.problems ?? []);
  const { matched, armed, pending } = sumReports(nodes);
  let status: Condition['status'] = 'False';
  let reason: string;
  let message: string;
  if (problems.length > 0) {
    reason = problems[0]!.reason;
    message = problems.map((p) => p.message).join('; ').slice(0, 4096);
  } else if (policy.spec.traps.some((t) => (t.matchAny ?? []).length === 0)) {
    reason = 'NoMatchAny';
    message = 'a trap has no matchAny: in a cluster, a trap must select pods or containers';
  } else if (armed > 0) {
    status = 'True';
    reason = 'Armed';
    message = `${armed} trap(s) armed in ${matched} matched container(s)` + (pending > 0 ? `, ${pending} not running yet` : '');
  } else if (pending > 0) {
    reason = 'ContainersPending';
    message = `${pending} matched container(s) not running yet`;
  } else {
    reason = 'NoMatchingContainers';
    message = 'no running container matches any trap';
  }
  const changed = previous === undefined || previous.status !== status || previous.reason !== reason;
  return {
    type: 'Ready',
    status,
    reason,
    message,
    lastTransitionTime: changed ? nowIso : previous.lastTransitionTime,
    observedGeneration: policy.metadata.generation ?? 0,
  };
}

/** True when writing `next` would change none of the fields this reconciler owns. */
function sameStatus(old: KivePolicyStatus | undefined, next: KivePolicyStatus): boolean {
  return (
    old?.observedGeneration === next.observedGeneration &&
    old?.matchedContainers === next.matchedContainers &&
    old?.armedTraps === next.armedTraps &&
    old?.pendingContainers === next.pendingContainers &&
    JSON.stringify(old?.conditions?.find((c) => c.type === 'Ready')) === JSON.stringify(next.conditions?.[0])
  );
}

export function createPolicyStatusReconciler(deps: PolicyStatusDeps): Reconciler<PolicyKey> {
  const { caches, writer } = deps;
  const interval = deps.minWriteIntervalMs ?? 1_000;
  const lastWrite = new Map<PolicyKey, number>();

  return async function reconcilePolicyStatus(key) {
    // 1. Load the policy. Gone already (deleted before the finalizer was on): its KiveData go.
    const policy = caches.policy(key);
    if (policy === undefined) {
      lastWrite.delete(key);
      await deleteEach(writer.deleteKiveData, caches.kiveDataOfPolicy(key));
      return;
    }

    // 2. Being deleted: remove every KiveData of it on every node, then let it go.
    if (policy.metadata.deletionTimestamp !== undefined) {
      await deleteEach(writer.deleteKiveData, caches.kiveDataOfPolicy(key));
      if (policy.metadata.finalizers?.includes(POLICY_FINALIZER)) await writer.removeFinalizer(policy);
      return;
    }

    // 3. Make sure its deletion will come through step 2.
    if (!policy.metadata.finalizers?.includes(POLICY_FINALIZER)) await writer.addFinalizer(policy);

    // 4. Fold the nodes' reports into Ready and the counts.
    const previous = policy.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = readyCondition(policy, previous, new Date(deps.now()).toISOString());
    const { matched, pending } = sumReports(policy.status?.nodes ?? []);
    const status: KivePolicyStatus = {
      observedGeneration: policy.metadata.generation ?? 0,
      conditions: [ready],
      matchedContainers: matched,
      armedTraps: caches.kiveDataOfPolicy(key).length,
      pendingContainers: pending,
    };

    // 5. Write it only when it changed (every write is an event that wakes this again),
    //    and not more often than `interval`: come back when it ends instead.
    if (sameStatus(policy.status, status)) return;
    const wait = (lastWrite.get(key) ?? -Infinity) + interval - deps.now();
    if (wait > 0) return { requeueAfterMs: wait };
    await writer.applyPolicyStatus(policy, status);
    lastWrite.set(key, deps.now());
  };
}
