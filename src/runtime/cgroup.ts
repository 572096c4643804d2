// Fallback for finding a container's process: scan /proc/*/cgroup for a cgroup named
// after the container. Used when the CRI socket is not reachable (no socket mounted, a
// runtime without CRI such as plain `ctr`), so it must know every path shape the
// runtimes use, for cgroup v1 (one line per hierarchy) and v2 (the single `0::` line):
//
//   cgroupfs driver     /kubepods/burstable/pod<uid>/<id>     (containerd, CRI-O: crio-<id>)
//   containerd, no parent /k8s.io/<id>, ctr: /default/<id>  (containerd namespace name)
//   systemd driver      /kubepods.slice/.../cri-containerd-<id>.scope, crio-<id>.scope,
//                       docker-<id>.scope, libpod-<id>.scope
//   nested (kind)       /system.slice/docker-<node>.scope/kubelet.slice/.../cri-containerd-<id>.scope
//
// Matching is by whole path segment, never by substring, so `crio-conmon-<id>.scope`
// (CRI-O's monitor process, which lives outside the container) never matches, and one id
// that is a prefix of another cannot be confused with it.

import { readdir, readFile, stat } from 'node:fs/promises';
import { KiveError } from '../errors.ts';

export const PROC_ROOT = '/proc';

// Prefixes a runtime puts before the id in the last segment (systemd scopes, cgroupfs CRI-O).
const PREFIXES = ['cri-containerd-', 'crio-', 'docker-', 'libpod-'];

/**
 * One cgroup path segment without its `.scope` suffix and runtime prefix: `id` is what
 * is left, `prefixed` whether a runtime prefix was there (cgroup-tree.ts reads it too).
 */
export function segmentId(seg: string): { id: string; prefixed: boolean } {
  const bare = seg.endsWith('.scope') ? seg.slice(0, -'.scope'.length) : seg;
  const p = PREFIXES.find((x) => bare.startsWith(x));
  return p === undefined ? { id: bare, prefixed: false } : { id: bare.slice(p.length), prefixed: true };
}

export interface CgroupLine {
  hierarchy: number;
  controllers: string[];
  path: string;
}

/** Parse the text of /proc/<pid>/cgroup ("id:controllers:path" per line). Bad lines are skipped. */
export function parseCgroupFile(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    // The path may itself contain ':' (systemd names do not, but be exact): split twice only.
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const hierarchy = Number(line.slice(0, a));
    if (!Number.isInteger(hierarchy)) continue;
    const ctl = line.slice(a + 1, b);
    out.push({ hierarchy, controllers: ctl === '' ? [] : ctl.split(','), path: line.slice(b + 1) });
  }
  return out;
}

/** True if one segment of a cgroup path names the container `id` in a shape listed above. */
export function cgroupPathNamesContainer(path: string, id: string): boolean {
  for (const seg of path.split('/')) {
    if (seg === id) return true;
    const s = segmentId(seg);
    if (s.prefixed && s.id === id) return true;
  }
  return false;
}

/** The start time (field 22 of /proc/<pid>/stat, in clock ticks since boot). */
export function parseStatStartTime(text: string): bigint | undefined {
  // comm (field 2) is in parentheses and may contain spaces and ')': cut at the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const v = fields[22 - 3]; // fields[0] is field 3 (state)
  return v !== undefined && /^\d+$/.test(v) ? BigInt(v) : undefined;
}

export interface CgroupScanOptions {
  /** Where procfs is mounted; tests point this at a fake tree. Default /proc. */
  procRoot?: string;
}

/**
 * Find a process of container `id` by scanning <procRoot>/<pid>/cgroup. When several
 * processes match (the init process, exec'd shells, their children) the earliest-started
 * one is returned: that is the container's init, and every process of the container
 * shares its mount namespace anyway. Returns undefined when nothing matches.
 * Processes that exit during the scan are skipped. Throws KIVE_RUNTIME if procRoot
 * cannot be listed.
 */
export async function findPidByCgroup(id: string, opts: CgroupScanOptions = {}): Promise<number | undefined> {
  const procRoot = opts.procRoot ?? PROC_ROOT;
  let entries: string[];
  try {
    entries = await readdir(procRoot);
  } catch (err) {
    throw new KiveError('KIVE_RUNTIME', `scan ${procRoot} for container ${id}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  const pids = entries.filter((e) => /^\d+$/.test(e));
  let best: { pid: number; start: bigint } | undefined;
  // Reads are cheap but there can be thousands of processes: bounded parallelism.
  const BATCH = 64;
  for (let i = 0; i < pids.length; i += BATCH) {
    const found = await Promise.all(pids.slice(i, i + BATCH).map((p) => matchPid(procRoot, p, id)));
    for (const f of found) {
      if (f && (best === undefined || f.start < best.start || (f.start === best.start && f.pid < best.pid))) best = f;
    }
  }
  return best?.pid;
}

async function matchPid(procRoot: string, pid: string, id: string): Promise<{ pid: number; start: bigint } | undefined> {
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined; // exited, or a kernel thread we may not read: not ours either way
  }
  if (!parseCgroupFile(text).some((l) => cgroupPathNamesContainer(l.path, id))) return undefined;
  let start: bigint | undefined;
  try {
    start = parseStatStartTime(await readFile(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited between the two reads
  }
  // No parsable start time: rank it last rather than dropping a real match.
  return { pid: Number(pid), start: start ?? BigInt(Number.MAX_SAFE_INTEGER) };
}

/**
 * The cgroup id of `pid`'s cgroup v2 directory: its kernfs inode number, what the BPF
 * program records as the event's cgroup id (bpf_get_current_cgroup_id), so that an event
 * can be mapped back to a container (src/alerts/accessor.ts). `/proc/<pid>/cgroup` paths
 * are relative to the reader's cgroup namespace, and `cgroupRoot` must be that
 * namespace's root: true on the host and in a pod sharing the host's cgroup namespace.
 * Undefined on cgroup v1 (no `0::` line) or when the process or directory is gone.
 */
export async function cgroupIdOfPid(pid: number, opts: { procRoot?: string; cgroupRoot?: string } = {}): Promise<bigint | undefined> {
  try {
    const lines = parseCgroupFile(await readFile(`${opts.procRoot ?? PROC_ROOT}/${pid}/cgroup`, 'utf8'));
    const v2 = lines.find((l) => l.hierarchy === 0 && l.controllers.length === 0);
    if (v2 === undefined || v2.path.split('/').includes('..')) return undefined; // outside our cgroup namespace
    return (await stat(`${opts.cgroupRoot ?? '/sys/fs/cgroup'}${v2.path}`, { bigint: true })).ino;
  } catch {
    return undefined;
  }
}
