// Container id (as in Pod status) -> pid of the container's init process, in Kive's pid
// namespace. The discover controller then reaches the container's files through
// /proc/<pid>/root, so Kive's DaemonSet needs hostPID: the CRI reports host pids.
//
// Order: CRI first (authoritative, cheap: one call), then a /proc cgroup scan (works
// without a CRI socket and for containers that CRI does not list, e.g. made with `ctr`).
// The answer says which one worked, so a misconfigured socket shows up in status/logs.

import { access } from 'node:fs/promises';
import { KiveError } from '../errors.ts';
import { findPidByCgroup, PROC_ROOT } from './cgroup.ts';
import { parseContainerId } from './container-id.ts';

/** The part of CriClient that pid lookup needs; tests may pass a fake. */
export interface CriPidSource {
  containerPid(id: string): Promise<number>;
}

export interface FindPidDeps {
  /** A connected CRI client, or undefined/null to go straight to the cgroup scan. */
  cri?: CriPidSource | null;
  /** Where procfs is mounted. Default /proc. */
  procRoot?: string;
  /** Skip the cgroup fallback (e.g. to test the CRI path alone). Default false. */
  noCgroupFallback?: boolean;
}

export interface ContainerPid {
  pid: number;
  /** Which method found it. */
  via: 'cri' | 'cgroup';
  /** The runtime's id (Pod status prefix removed). */
  containerId: string;
  /** Why CRI did not answer, when the cgroup scan was used although a CRI client was given. */
  criError?: string;
}

/**
 * Find the pid of container `containerId` ("containerd://<id>", "cri-o://<id>" or a
 * bare id). Throws KIVE_RUNTIME for a malformed id; KIVE_CONTAINER_NOT_FOUND when
 * neither CRI nor the cgroup scan finds a running process (the message carries both
 * reasons); KIVE_RUNTIME when CRI gives a pid that procRoot does not show (Kive is not
 * in the host pid namespace).
 */
export async function findContainerPid(containerId: string, deps: FindPidDeps = {}): Promise<ContainerPid> {
  const { id } = parseContainerId(containerId);
  const procRoot = deps.procRoot ?? PROC_ROOT;
  let criError: string | undefined;

  if (deps.cri) {
    let pid: number | undefined;
    try {
      pid = await deps.cri.containerPid(id);
    } catch (err) {
      criError = err instanceof Error ? err.message : String(err);
      if (deps.noCgroupFallback) throw err;
    }
    if (pid !== undefined) {
      // A pid we cannot see is a deployment error (no hostPID): a cgroup scan of our own
      // /proc would not find the container either, and saying so is more useful.
      await checkVisible(pid, procRoot, id);
      return { pid, via: 'cri', containerId: id };
    }
  }

  const pid = await findPidByCgroup(id, { procRoot });
  if (pid !== undefined) {
    const out: ContainerPid = { pid, via: 'cgroup', containerId: id };
    if (criError !== undefined) out.criError = criError;
    return out;
  }
  const why = criError === undefined ? 'no CRI client' : `CRI: ${criError}`;
  throw new KiveError('KIVE_CONTAINER_NOT_FOUND', `find pid of container ${id}: no process found (${why}; cgroup scan of ${procRoot}: no process in a cgroup named after it)`);
}

async function checkVisible(pid: number, procRoot: string, id: string): Promise<void> {
  try {
    await access(`${procRoot}/${pid}`);
  } catch {
    throw new KiveError('KIVE_RUNTIME', `find pid of container ${id}: the runtime says pid ${pid}, which is not visible in ${procRoot} (does Kive run with hostPID: true?)`);
  }
}
