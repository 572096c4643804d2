// The node's cgroup v2 tree, read to place an event's cgroup id (what
// bpf_get_current_cgroup_id() returns: the kernfs id of the process's cgroup v2
// directory, which is also that directory's inode number on 64-bit kernels) on a path,
// and the path in a container (src/alerts/accessor.ts).
//
// On a cgroup v1 host in hybrid mode (this project's test machines) the v2 tree is at
// /sys/fs/cgroup/unified and runc puts each container in it as well; on a pure v2 host
// it is /sys/fs/cgroup. Inside a pod with its own cgroup namespace, the runtime mounts
// only the pod's own subtree there: mount the host's tree and pass it as the root
// (`--cgroup-root`), or every other cgroup is unknown (never guessed to be the host).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { segmentId } from './cgroup.ts';

/** Where the cgroup v2 file system is mounted, from /proc/self/mountinfo; undefined if nowhere. */
export function cgroup2MountPoint(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // "id parent major:minor root mountpoint opts [optional...] - fstype source superopts"
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    if (line.slice(sep + 3).split(' ')[0] !== 'cgroup2') continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    if (mountPoint !== undefined) return mountPoint.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

export function findCgroup2Root(): string | undefined {
  try {
    return cgroup2MountPoint(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * `dir` if it is a cgroup v2 root, else its `unified` child if that is one: a host's
 * /sys/fs/cgroup mounted into a pod is then right on v2 and on hybrid v1 hosts alike.
 */
export function cgroup2Under(dir: string): string {
  return !existsSync(`${dir}/cgroup.controllers`) && existsSync(`${dir}/unified/cgroup.controllers`) ? `${dir}/unified` : dir;
}

export interface CgroupScanLimits {
  /** Directories deeper than this are not read (kubepods nest 4-6 deep). */
  maxDepth?: number;
  /** At most this many directories per scan: a bound on the time a scan takes. */
  maxDirs?: number;
}

/**
 * Every cgroup directory under `root`, by its id (inode number), as a path relative to
 * the root ("/" for the root itself). Synchronous: it runs on an alert's miss only,
 * rate-limited by the caller, and a few thousand stat() calls take milliseconds.
 * Directories that vanish during the walk are skipped.
 */
export function scanCgroupTree(root: string, limits: CgroupScanLimits = {}): Map<bigint, string> {
  const maxDepth = limits.maxDepth ?? 16;
  const maxDirs = limits.maxDirs ?? 50_000;
  const out = new Map<bigint, string>();
  const stack: Array<{ rel: string; depth: number }> = [{ rel: '', depth: 0 }];
  while (stack.length > 0 && out.size < maxDirs) {
    const { rel, depth } = stack.pop()!;
    let ino: bigint;
    let children: string[];
    try {
      ino = statSync(root + rel, { bigint: true }).ino;
      children = depth >= maxDepth ? [] : readdirSync(root + rel, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      continue; // removed while we walked
    }
    out.set(ino, rel === '' ? '/' : rel);
    for (const name of children) stack.push({ rel: `${rel}/${name}`, depth: depth + 1 });
  }
  return out;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/**
 * The container a cgroup path belongs to: the deepest segment that is a container id
 * (64 hex digits, bare or in a runtime's `<prefix><id>[.scope]` form) or one of
 * `knownIds` (runtimes that take any name, e.g. `ctr run`). A process in a cgroup
 * nested under its container's belongs to that container. Undefined: no container.
 */
export function containerIdOfCgroupPath(path: string, knownIds?: (id: string) => boolean): string | undefined {
  const segs = path.split('/');
  for (let i = segs.length - 1; i >= 0; i--) {
    const seg = segs[i]!;
    if (seg === '') continue;
    if (knownIds?.(seg)) return seg;
    const { id, prefixed } = segmentId(seg); // the runtimes' shapes, as cgroup.ts reads them
    if (CONTAINER_ID.test(id) || (prefixed && knownIds?.(id))) return id;
  }
  return undefined;
}
