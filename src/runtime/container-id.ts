// Container ids as Kubernetes reports them in Pod status (`containerd://<id>`,
// `cri-o://<id>`, `docker://<id>`) and as runtimes use them (the bare id).

import { KiveError } from '../errors.ts';

export interface ContainerRef {
  /** The scheme from Pod status (`containerd`, `cri-o`, ...), or undefined for a bare id. */
  runtime: string | undefined;
  /** The runtime's own id: 64 hex digits for CRI containers, any ctr-style name otherwise. */
  id: string;
}

// containerd's own identifier rule (the strictest of the runtimes): letters and digits,
// separated by single '.', '_' or '-'. Requiring it keeps the id usable verbatim as a
// cgroup path segment and rules out '/', '..' and whitespace before we go near /proc.
const ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/;

/**
 * Split `containerd://abc` into runtime and id; a bare id is accepted as is.
 * Throws KIVE_RUNTIME for an empty or malformed id.
 */
export function parseContainerId(value: string): ContainerRef {
  const m = SCHEME.exec(value);
  const runtime = m ? m[1] : undefined;
  const id = m ? (m[2] ?? '') : value;
  if (id.length === 0 || id.length > 256 || !ID.test(id)) {
    throw new KiveError('KIVE_RUNTIME', `parse container id ${JSON.stringify(value)}: not a container id (expected "<runtime>://<id>" or a bare id)`);
  }
  return { runtime, id };
}
