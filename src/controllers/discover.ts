// The discover controller: one per node. For one KivePolicy it finds the matching
// containers on this node, resolves each trap's path inside each container's root (never
// escaping it), creates honeytokens, and keeps exactly one KiveData per (trap, container)
// on this kernel. Level-based: every run re-reads the caches and converges, whatever
// event woke it.
//
// Unlike the original implementation, a container that is not running yet does not hold
// up anything else: it is counted as pending and the policy is retried later, while every
// other container is handled now. And a trap file replaced inside a container brings
// the policy back at once through a watch on its directory (deps.watches).

import type { KiveData, KivePolicy, KiveTrap, NodeReport, PolicyProblem } from '../api/v1/types.ts';
import { isKiveError } from '../errors.ts';
import type { ReconcileResult } from '../k8s/controller.ts';
import { eachLimited } from '../k8s/limit.ts';
import type { Logger } from '../k8s/log.ts';
import type { ResolvedFile, ResolveOptions } from '../runtime/resolve.ts';
import { buildKiveData } from './kivedata.ts';
import { forbiddenNamespaces, namespaceAllowed, selectContainers, type Pod, type SelectedContainer } from './match.ts';
import { canonical, kiveDataName, trapId } from './naming.ts';

/** Reads of the informer caches the reconcile needs. */
export interface DiscoverCaches {
  policy(key: string): KivePolicy | undefined;
  /** Pods scheduled on this node. */
  pods(): readonly Pod[];
  /** KiveData of `policyKey` created by this node. */
  kiveDataOf(policyKey: string): readonly KiveData[];
}

/** The writes, behind an interface so tests can record them. */
export interface DiscoverWriter {
  apply(data: KiveData): Promise<void>;
  delete(namespace: string, name: string): Promise<void>;
  reportStatus(policy: KivePolicy, report: NodeReport): Promise<void>;
}

export interface DiscoverDeps {
  nodeName: string;
  kernelId: string;
  /** Namespace that holds KiveData (kivebpf-system by default). */
  namespace: string;
  caches: DiscoverCaches;
  writer: DiscoverWriter;
  /** Container id as in the pod status -> a pid whose /proc/<pid>/root is its root. */
  locate(containerId: string): Promise<number>;
  resolve(opts: ResolveOptions): ResolvedFile;
  log: Logger;
  /** Retry delay while some matched container is not running yet. */
  pendingRetryMs?: number;
  /** Re-check even when all is well: the backstop for a missed directory-watch event. */
  recheckMs?: number;
  /** KiveData writes of one reconcile in flight at once (default 8). */
  writesInFlight?: number;
  /** Root of the host's /proc (tests may point elsewhere). */
  procRoot?: string;
  /** The wall clock, for KiveData plantedAt. */
  now?: () => number;
  /**
   * Keeps a watch on each resolved trap's directory so a replaced file is re-resolved
   * at once (src/runtime/watch.ts TrapWatchSet); without it only recheckMs notices.
   */
  watches?: { sync(policyKey: string, targets: ReadonlyArray<{ root: string; path: string }>): number };
}

const MAX_PROBLEMS = 32;

function problemOf(err: unknown, trap: KiveTrap, c: SelectedContainer): PolicyProblem {
  const where = `${trap.path} in ${c.pod.metadata.namespace}/${c.pod.metadata.name}/${c.containerName}`;
  const message = `${where}: ${(err as Error).message}`.slice(0, 1024);
  if (isKiveError(err, 'KIVE_UNSAFE_PATH')) return { reason: 'UnsafePath', message };
  if (isKiveError(err, 'KIVE_PATH_NOT_FOUND')) return { reason: 'PathNotFound', message };
  if (isKiveError(err, 'KIVE_INVALID_POLICY')) return { reason: 'InvalidTrap', message };
  return { reason: 'RuntimeError', message };
}

/**
 * Same spec and labels: applying it again would change nothing. Compared canonically:
 * the cached copy comes from the API server with its keys sorted, so a plain
 * JSON.stringify never matched and every reconcile re-applied every KiveData (one API
 * request per trap per recheck and per restart, bench/scale.ts).
 */
function unchanged(a: KiveData | undefined, b: KiveData): boolean {
  return a !== undefined && canonical(a.spec) === canonical(b.spec) && canonical(a.metadata.labels) === canonical(b.metadata.labels);
}

/**
 * When Kive planted the file (KiveData plantedAt, exclude.plantingWindowSeconds): set
 * when a run creates the file for a KiveData that did not exist yet, kept while the
 * KiveData names the same file. A file Kive recreates after someone deleted it opens no
 * window: whoever deleted it could otherwise read the new one unseen. `recent` holds
 * what this process planted, for a reconcile that runs before the cache has the KiveData.
 */
function plantedAt(
  trap: KiveTrap, file: ResolvedFile, name: string, before: KiveData | undefined,
  recent: Map<string, { inode: string; at: string }>, now: () => number,
): string | undefined {
  if (trap.exclude?.plantingWindowSeconds === undefined) return undefined;
  const inode = file.ino.toString();
  const mine = recent.get(name);
  if (mine !== undefined && mine.inode === inode) return mine.at;
  if (before === undefined) {
    if (!file.created) return undefined;
    const at = new Date(now()).toISOString();
    if (recent.size >= 10_000) recent.clear();
    recent.set(name, { inode, at });
    return at;
  }
  return before.spec.inode === inode && before.spec.devId === file.dev ? before.spec.plantedAt : undefined;
}

export function createDiscoverReconciler(deps: DiscoverDeps) {
  const { caches, writer, log } = deps;
  const procRoot = deps.procRoot ?? '/proc';
  const recentlyPlanted = new Map<string, { inode: string; at: string }>();
  const writesInFlight = deps.writesInFlight ?? 8;

  return async function reconcileDiscover(policyKey: string): Promise<ReconcileResult> {
    // 1. Load the policy. Gone or going: this node's KiveData of it go too.
    const policy = caches.policy(policyKey);
    const existing = caches.kiveDataOf(policyKey);
    if (policy === undefined || policy.metadata.deletionTimestamp !== undefined) {
      deps.watches?.sync(policyKey, []);
      await eachLimited(existing, writesInFlight, (d) => writer.delete(d.metadata.namespace ?? deps.namespace, d.metadata.name));
      return;
    }

    // 2. Every (trap, container) on this node that the policy selects, among the pods of
    // the namespaces it may select (match.ts namespaceAllowed). A `namespace:` item naming
    // another one is reported first, so Ready says NamespaceNotAllowed; nothing about the
    // other namespace's pods enters the status or the logs.
    const policyNs = policy.metadata.namespace;
    const pods = caches.pods().filter((p) => namespaceAllowed(policyNs, deps.namespace, p.metadata.namespace));
    const problems: PolicyProblem[] = [];
    for (const trap of policy.spec.traps) {
      const forbidden = forbiddenNamespaces(trap, policyNs, deps.namespace);
      if (forbidden.length === 0) continue;
      problems.push({
        reason: 'NamespaceNotAllowed',
        message: `trap ${trap.path}: matchAny names namespace ${forbidden.map((n) => `"${n}"`).join(', ')}; a KivePolicy in namespace "${policyNs ?? ''}" selects only pods of its own namespace (only policies in "${deps.namespace}" select other namespaces)`.slice(0, 1024),
      });
    }
    const byName = new Map(existing.map((d) => [d.metadata.name, d]));
    const desired = new Map<string, KiveData>();
    const keep = new Set<string>(); // existing KiveData kept through a transient failure
    const watchTargets: Array<{ root: string; path: string }> = [];
    let matched = 0;
    let pending = 0;
    // One lookup per container, not per (trap, container): a CRI call each.
    const pids = new Map<string, Promise<number>>();
    const locate = (id: string) => {
      let p = pids.get(id);
      if (p === undefined) pids.set(id, (p = deps.locate(id)));
      return p;
    };
    for (const trap of policy.spec.traps) {
      for (const pod of pods) {
        for (const container of selectContainers(trap, pod)) {
          matched++;
          if (!container.running || container.containerId === undefined) {
            pending++;
            continue;
          }
          // 3. Find the container's root and the file inside it.
          let pid: number;
          try {
            pid = await locate(container.containerId);
          } catch (err) {
            pending++;
            problems.push(problemOf(err, trap, container));
            const pod = container.pod.metadata;
            keep.add(kiveDataName(trapId(policy, trap), pod.uid, pod.name, pod.namespace, container.containerName));
            continue;
          }
          const root = `${procRoot}/${pid}/root`;
          watchTargets.push({ root, path: trap.path }); // also when missing: notice its creation
          let file: ResolvedFile;
          try {
            file = deps.resolve({
              root,
              path: trap.path,
              ...(trap.create === true ? { create: true } : {}),
              ...(trap.mode !== undefined ? { mode: trap.mode } : {}),
            });
          } catch (err) {
            problems.push(problemOf(err, trap, container));
            continue;
          }
          if (file.created) log.info({ policy: policyKey, path: trap.path, pod: pod.metadata.name, container: container.containerName }, 'created honeytoken');
          const data = buildKiveData({ policy, trap, container, file, kernelId: deps.kernelId, nodeName: deps.nodeName, namespace: deps.namespace });
          const name = data.metadata.name;
          const at = plantedAt(trap, file, name, byName.get(name), recentlyPlanted, deps.now ?? Date.now);
          if (at !== undefined) data.spec.plantedAt = at;
          desired.set(name, data);
        }
      }
    }

    // 4. Converge: apply what changed, delete what is no longer wanted, several requests
    //    in flight (one at a time, 5,000 KiveData waited 5,000 round trips).
    const changed = [...desired.values()].filter((data) => !unchanged(byName.get(data.metadata.name), data));
    await eachLimited(changed, writesInFlight, (data) => writer.apply(data));
    const unwanted = existing.filter((d) => !desired.has(d.metadata.name) && !keep.has(d.metadata.name));
    await eachLimited(unwanted, writesInFlight, (d) => writer.delete(d.metadata.namespace ?? deps.namespace, d.metadata.name));

    // 5. Watch the resolved files' directories, so a replaced file comes back here at once.
    deps.watches?.sync(policyKey, watchTargets);

    // 6. Report what this node saw; the cluster controller folds reports into Ready.
    await writer.reportStatus(policy, {
      node: deps.nodeName,
      kernelId: deps.kernelId,
      observedGeneration: policy.metadata.generation ?? 0,
      matchedContainers: matched,
      armedTraps: desired.size,
      pendingContainers: pending,
      problems: problems.slice(0, MAX_PROBLEMS),
    });

    // 7. Come back soon for pending containers; later anyway, the backstop for a missed watch event.
    return { requeueAfterMs: pending > 0 ? (deps.pendingRetryMs ?? 2_000) : (deps.recheckMs ?? 60_000) };
  };
}
