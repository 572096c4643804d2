// Which container an event's process runs in, from the event's cgroup id (the kernfs
// inode of its cgroup v2 directory, what bpf_get_current_cgroup_id() returns). Whoever
// knows the node's containers (the operator's discover side) records each running
// container's cgroup id here; the alert path only looks up. docs/alerts.md, `accessor`.

import type { Accessor } from './build.ts';

export interface AccessorContainer {
  podName: string;
  podNamespace: string;
  /** As in the pod status: `containerd://<id>`. */
  containerId: string;
  containerName: string;
}

export class AccessorIndex {
  readonly #byCgroup = new Map<bigint, Accessor>();
  readonly #host = new Map<bigint, Accessor>();

  /** Records (or replaces) the container whose cgroup id is `cgroupId`. */
  set(cgroupId: bigint, c: AccessorContainer): void {
    this.#byCgroup.set(cgroupId, {
      host: false,
      'cgroup-id': cgroupId.toString(),
      pod: { name: c.podName, namespace: c.podNamespace },
      container: { id: c.containerId, name: c.containerName },
    });
  }

  delete(cgroupId: bigint): void {
    this.#byCgroup.delete(cgroupId);
  }

  /** In no recorded container: the host (one object per cgroup, so alert caches can key on it). */
  of(cgroupId: bigint): Accessor {
    const hit = this.#byCgroup.get(cgroupId);
    if (hit !== undefined) return hit;
    let host = this.#host.get(cgroupId);
    if (host === undefined) {
      if (this.#host.size >= 4_096) this.#host.clear();
      host = { host: true, 'cgroup-id': cgroupId.toString() };
      this.#host.set(cgroupId, host);
    }
    return host;
  }
}
