// The pod controller: one per cluster (Lease). It owns what no single node can see:
//  - a pod that terminated, failed or was deleted has its KiveData removed;
//  - KiveData of a kernel that no longer runs (node rebooted: new boot id; node gone)
//    are garbage-collected: the original implementation left them forever;
//  - a KivePolicy being deleted has all its KiveData removed, everywhere, before its
//    finalizer is released;
//  - the policy's Ready condition, folded from the nodes' reports.
//
// New pods need nothing from here: each node's discover controller watches the pods of
// its own node and reconciles the policies when one appears (the design routed this
// through the pod controller; watching locally is one hop shorter and works while the
// pod controller is being elected).

import type { Condition, KiveData, KivePolicy, KivePolicyStatus } from '../api/v1/types.ts';
import type { ReconcileResult } from '../k8s/controller.ts';
import type { Logger } from '../k8s/log.ts';
import { podIsFinished, type Pod } from './match.ts';

export const POLICY_FINALIZER = 'kivebpf.san7o.github.io/kivedata-cleanup';

export interface PodControllerCaches {
  pod(key: string): Pod | undefined;
  /** KiveData of the pod `namespace/name`. */
  kiveDataOfPod(podKey: string): readonly KiveData[];
  kiveDataOfPolicy(policyKey: string): readonly KiveData[];
  policy(key: string): KivePolicy | undefined;
  allKiveData(): readonly KiveData[];
  /** Kernel ids whose loader Lease exists, with its resourceVersion (changes on renewal). */
  loaderLeases(): ReadonlyMap<string, string>;
}

export interface PodControllerWriter {
  deleteKiveData(namespace: string, name: string): Promise<void>;
  addFinalizer(policy: KivePolicy): Promise<void>;
  removeFinalizer(policy: KivePolicy): Promise<void>;
  applyPolicyStatus(policy: KivePolicy, status: KivePolicyStatus): Promise<void>;
}

export interface PodControllerDeps {
  caches: PodControllerCaches;
  writer: PodControllerWriter;
  log: Logger;
  now: () => number;
  /** How long a kernel's loader Lease may stay unrenewed before its KiveData go. */
  kernelGraceMs?: number;
}

/** Key prefixes: one controller, three kinds of keys. */
export const KEYS = { pod: 'pod/', policy: 'policy/', gcKernels: 'gc/kernels' } as const;

async function deleteAll(writer: PodControllerWriter, data: readonly KiveData[]): Promise<number> {
  for (const d of data) await writer.deleteKiveData(d.metadata.namespace ?? '', d.metadata.name);
  return data.length;
}

/** The Ready condition from the nodes' reports. Pure. */
export function readyCondition(policy: KivePolicy, previous: Condition | undefined, nowIso: string): Condition {
  const nodes = policy.status?.nodes ?? [];
  const generation = policy.metadata.generation ?? 0;
  const problems = nodes.flatMap((n) => n.problems ?? []);
  const matched = nodes.reduce((s, n) => s + (n.matchedContainers ?? 0), 0);
  const armed = nodes.reduce((s, n) => s + (n.armedTraps ?? 0), 0);
  const pending = nodes.reduce((s, n) => s + (n.pendingContainers ?? 0), 0);
  let status: Condition['status'] = 'True';
  let reason = 'Armed';
  let message = `${armed} trap(s) armed in ${matched} matched container(s)`;
  if (problems.length > 0) {
    status = 'False';
    reason = problems[0]!.reason;
    message = problems.map((p) => p.message).join('; ').slice(0, 4096);
  } else if (policy.spec.traps.some((t) => (t.matchAny ?? []).length === 0)) {
    status = 'False';
    reason = 'NoMatchAny';
    message = 'a trap has no matchAny: in a cluster, a trap must select pods or containers';
  } else if (matched === 0) {
    status = 'False';
    reason = 'NoMatchingContainers';
    message = 'no running container matches any trap';
  } else if (pending > 0) {
    status = 'False';
    reason = 'ContainersPending';
    message = `${pending} matched container(s) not running yet`;
  }
  const changed = previous === undefined || previous.status !== status || previous.reason !== reason;
  return {
    type: 'Ready',
    status,
    reason,
    message,
    lastTransitionTime: changed ? nowIso : previous.lastTransitionTime,
    observedGeneration: generation,
  };
}

export function createPodReconciler(deps: PodControllerDeps) {
  const { caches, writer, log } = deps;
  const grace = deps.kernelGraceMs ?? 5 * 60_000;
  /** kernel id -> [last seen lease resourceVersion, local time it was last seen change]. */
  const kernelSeen = new Map<string, { rv: string; at: number }>();

  async function reconcilePod(podKey: string): Promise<ReconcileResult> {
    // A pod that is gone, finished, or replaced by a new pod of the same name (new uid).
    const pod = caches.pod(podKey);
    const stale = caches.kiveDataOfPod(podKey).filter((d) => pod === undefined || podIsFinished(pod) || d.spec.podUid !== pod.metadata.uid);
    if (stale.length > 0) log.info({ pod: podKey, kiveData: stale.length }, 'pod gone or finished; deleting its KiveData');
    await deleteAll(writer, stale);
  }

  async function reconcilePolicy(policyKey: string): Promise<ReconcileResult> {
    const policy = caches.policy(policyKey);
    if (policy === undefined) {
      await deleteAll(writer, caches.kiveDataOfPolicy(policyKey)); // deleted before we added the finalizer
      return;
    }
    // 1. Deleting: remove every KiveData of the policy on every node, then let it go.
    if (policy.metadata.deletionTimestamp !== undefined) {
      await deleteAll(writer, caches.kiveDataOfPolicy(policyKey));
      if (policy.metadata.finalizers?.includes(POLICY_FINALIZER)) await writer.removeFinalizer(policy);
      return;
    }
    // 2. Make sure deletion will come through us.
    if (!policy.metadata.finalizers?.includes(POLICY_FINALIZER)) await writer.addFinalizer(policy);
    // 3. Fold the nodes' reports into the status.
    const previous = policy.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = readyCondition(policy, previous, new Date(deps.now()).toISOString());
    const nodes = policy.status?.nodes ?? [];
    const status: KivePolicyStatus = {
      observedGeneration: policy.metadata.generation ?? 0,
      conditions: [ready],
      matchedContainers: nodes.reduce((s, n) => s + (n.matchedContainers ?? 0), 0),
      armedTraps: caches.kiveDataOfPolicy(policyKey).length,
    };
    const old = policy.status;
    const same =
      old?.observedGeneration === status.observedGeneration &&
      old?.matchedContainers === status.matchedContainers &&
      old?.armedTraps === status.armedTraps &&
      JSON.stringify(old?.conditions?.find((c) => c.type === 'Ready')) === JSON.stringify(ready);
    if (!same) await writer.applyPolicyStatus(policy, status);
  }

  async function collectDeadKernels(): Promise<ReconcileResult> {
    // Liveness is judged from our own observations of the loader Leases changing (a
    // renewal changes resourceVersion), never by comparing clocks with another machine.
    const now = deps.now();
    const leases = caches.loaderLeases();
    const kernels = new Set(caches.allKiveData().map((d) => d.spec.kernelId ?? ''));
    for (const kernel of kernels) {
      const rv = leases.get(kernel) ?? '';
      const seen = kernelSeen.get(kernel);
      if (seen === undefined || seen.rv !== rv) kernelSeen.set(kernel, { rv, at: now });
    }
    for (const [kernel, seen] of kernelSeen) {
      if (!kernels.has(kernel)) {
        kernelSeen.delete(kernel);
        continue;
      }
      if (now - seen.at < grace) continue;
      const data = caches.allKiveData().filter((d) => (d.spec.kernelId ?? '') === kernel);
      log.info({ kernelId: kernel, kiveData: data.length, silentForMs: now - seen.at }, 'kernel no longer running; deleting its KiveData');
      await deleteAll(writer, data);
      kernelSeen.delete(kernel);
    }
    return { requeueAfterMs: Math.max(1_000, Math.min(grace / 2, 30_000)) };
  }

  return async function reconcilePodController(key: string): Promise<ReconcileResult> {
    if (key === KEYS.gcKernels) return collectDeadKernels();
    if (key.startsWith(KEYS.pod)) return reconcilePod(key.slice(KEYS.pod.length));
    if (key.startsWith(KEYS.policy)) return reconcilePolicy(key.slice(KEYS.policy.length));
    log.warn({ key }, 'unknown key');
  };
}
