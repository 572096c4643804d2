// Who accessed a file: the accessing process's container (and its pod) or the host,
// from the event's cgroup id. The id is placed in the node's cgroup v2 tree
// (src/runtime/cgroup-tree.ts), the path names a container or not, and the pods on the
// node name the container. docs/alerts.md, `accessor`.
//
// Fail closed: a cgroup id that is not in the tree, even after a fresh scan, is
// "unknown", never "host"; an exclusion (src/traps/exclude.ts) never matches it.

import type { Accessor } from './build.ts';
import { cgroup2Under, containerIdOfCgroupPath, findCgroup2Root, scanCgroupTree } from '../runtime/cgroup-tree.ts';

export interface AccessorContainer {
  podName: string;
  podNamespace: string;
  /** As in the pod status: `containerd://<id>`. */
  containerId: string;
  containerName: string;
}

export interface AccessorIndexOptions {
  /** A fresh map of the tree (cgroup id -> path); undefined when there is no cgroup v2 tree. */
  scan: () => ReadonlyMap<bigint, string> | undefined;
  /** The pod container with this bare runtime id on this node, if any (the operator's pod informer). */
  podContainer?: (bareId: string) => AccessorContainer | undefined;
  /** At most one scan per this many ms, however many unknown ids arrive. Default 500. */
  minRescanMs?: number;
  now?: () => number;
}

export class AccessorIndex {
  readonly #o: AccessorIndexOptions;
  #paths: ReadonlyMap<bigint, string> | undefined;
  #scannedAt = -Infinity;
  /** Scans done: on start and on misses. */
  scans = 0;

  constructor(options: AccessorIndexOptions) {
    this.#o = options;
  }

  of(cgroupId: bigint): Accessor {
    const id = cgroupId.toString();
    let path = this.#paths?.get(cgroupId);
    if (path === undefined) {
      const now = (this.#o.now ?? Date.now)();
      if (now - this.#scannedAt >= (this.#o.minRescanMs ?? 500)) {
        this.#scannedAt = now;
        this.scans++;
        this.#paths = this.#o.scan();
        path = this.#paths?.get(cgroupId);
      }
    }
    if (this.#paths === undefined) return { 'cgroup-id': id, 'unknown-reason': 'no cgroup v2 hierarchy to place the cgroup id in' };
    if (path === undefined) return { 'cgroup-id': id, 'unknown-reason': 'cgroup id not found in the cgroup v2 tree' };
    const known = this.#o.podContainer;
    const bare = containerIdOfCgroupPath(path, known ? (s) => known(s) !== undefined : undefined);
    if (bare === undefined) return { host: true, 'cgroup-id': id };
    const c = known?.(bare);
    if (c === undefined) return { host: false, 'cgroup-id': id, container: { id: bare, name: '' } };
    return { host: false, 'cgroup-id': id, pod: { name: c.podName, namespace: c.podNamespace }, container: { id: c.containerId, name: c.containerName } };
  }
}

/** Pod status fields the index reads. */
interface PodLike {
  metadata: { name: string; namespace: string };
  status?: { containerStatuses?: ReadonlyArray<{ name: string; containerID?: string }>; initContainerStatuses?: ReadonlyArray<{ name: string; containerID?: string }>; ephemeralContainerStatuses?: ReadonlyArray<{ name: string; containerID?: string }> };
}

/** Bare runtime id -> pod container, for every container status of `pods`. */
export function podContainersById(pods: readonly PodLike[]): Map<string, AccessorContainer> {
  const out = new Map<string, AccessorContainer>();
  for (const pod of pods) {
    const s = pod.status;
    for (const c of [...(s?.containerStatuses ?? []), ...(s?.initContainerStatuses ?? []), ...(s?.ephemeralContainerStatuses ?? [])]) {
      if (!c.containerID) continue;
      const bare = c.containerID.slice(c.containerID.indexOf('://') + 3);
      out.set(bare, { podName: pod.metadata.name, podNamespace: pod.metadata.namespace, containerId: c.containerID, containerName: c.name });
    }
  }
  return out;
}

/**
 * The index `kive run` and the operator's loader use: the tree at `cgroupRoot` (default:
 * where cgroup2 is mounted). Without one, every accessor is unknown, and that is said once.
 */
export function nodeAccessorIndex(o: { cgroupRoot?: string | undefined; podContainer?: AccessorIndexOptions['podContainer']; log: { warn(obj: object, msg: string): void } }): AccessorIndex {
  const root = o.cgroupRoot !== undefined ? cgroup2Under(o.cgroupRoot) : findCgroup2Root();
  if (root === undefined) o.log.warn({}, "no cgroup v2 hierarchy found; alerts cannot name the accessing process's container (accessor.unknown-reason)");
  return new AccessorIndex({ scan: () => (root === undefined ? undefined : scanCgroupTree(root)), ...(o.podContainer ? { podContainer: o.podContainer } : {}) });
}
