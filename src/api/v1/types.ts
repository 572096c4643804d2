// The Kive API, group kivebpf.san7o.github.io/v1, as TypeScript types. The field names
// follow the original Kive API exactly (docs/design.md) so existing policies apply unchanged; fields the
// original API does not have are marked "Kive extension".

export const GROUP = 'kivebpf.san7o.github.io';
export const VERSION = 'v1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** One match block: every item present must match (AND). Blocks are OR-ed. */
export interface MatchBlock {
  pod?: string;
  namespace?: string;
  ip?: string;
  /** Exact container name, `regex: <RE>` or `glob: <pattern>`. */
  containerName?: string;
  matchLabels?: Record<string, string>;
}

export interface KiveTrap {
  /** Absolute path of the file inside each matched container (or on the host). */
  path: string;
  /** Create the file (a honeytoken) when it does not exist. Never truncates. */
  create?: boolean;
  /** Permission bits for a created file, written as octal digits: 444 is r--r--r--. */
  mode?: number;
  /** http(s) URL that receives each alert as a JSON POST. */
  callback?: string;
  matchAny?: MatchBlock[];
  /** Copied into each alert's `custom-metadata`. */
  metadata?: Record<string, string>;
  /** Kive extension: accesses that raise no alert (counted instead). docs/alerts.md, "Exclusions". */
  exclude?: TrapExclusions;
}

/**
 * Kive extension: accessors a trap does not alert on, so that a tool that plants and
 * verifies decoys (Koney) raises no false alert. Any one item that matches excludes the
 * access; each excluded access is counted (kive_alerts_excluded_total), never lost.
 */
export interface TrapExclusions {
  /**
   * Exact binary paths of host processes (not in any container: inside a container an
   * intruder could name a binary anything). Never matches a cut-short binary path.
   */
  binaries?: string[];
  /** Container names: a process in a container of this name, in a pod of the file's namespace. */
  containers?: string[];
  /**
   * Seconds after Kive created the file (`create: true`) during which any access is
   * excluded: the planting tool's own read-back. Only the first creation for a
   * container opens it; a file recreated later (deleted by someone) does not.
   */
  plantingWindowSeconds?: number;
}

export interface KivePolicySpec {
  /** KiveAlert version to emit; `v1` (the only one) by default. */
  alertVersion?: 'v1';
  traps: KiveTrap[];
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Kive extension: what the controllers observed, rebuilt on every reconcile. */
export interface KivePolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  matchedContainers?: number;
  armedTraps?: number;
  /** Matched containers not running yet, summed over the nodes' reports. */
  pendingContainers?: number;
  /** One entry per node, written by that node's discover controller. */
  nodes?: NodeReport[];
}

export interface PolicyProblem {
  /** PathNotFound, UnsafePath, RuntimeError, ... */
  reason: string;
  message: string;
}

/** What one node's discover controller found for a policy. Kive extension. */
export interface NodeReport {
  node: string;
  kernelId?: string;
  observedGeneration?: number;
  matchedContainers?: number;
  armedTraps?: number;
  pendingContainers?: number;
  problems?: PolicyProblem[];
}

export interface KivePolicy {
  apiVersion: typeof API_VERSION;
  kind: 'KivePolicy';
  metadata: ObjectMeta;
  spec: KivePolicySpec;
  status?: KivePolicyStatus;
}

/**
 * One monitored file in one container on one kernel. The original API's fields are
 * `inodeNo`, `devId` and `metadata`; the rest is a Kive extension so that the loader can
 * build alerts without reading anything else (the original kept them in annotations).
 */
export interface KiveDataSpec {
  inodeNo: number;
  /** Kernel encoding of the device: major << 20 | minor. */
  devId: number;
  metadata?: Record<string, string>;
  // Kive extension: identity of the trap and of where the file lives.
  /** Inode number in decimal, exact where `inodeNo` would lose precision in JSON. */
  inode?: string;
  kernelId?: string;
  policyName?: string;
  policyNamespace?: string;
  trapId?: string;
  path?: string;
  alertVersion?: 'v1';
  callback?: string;
  nodeName?: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  podIp?: string;
  containerId?: string;
  containerName?: string;
  /** The trap's exclusions, copied from the policy (TrapExclusions). */
  exclude?: TrapExclusions;
  /** RFC 3339: when Kive created this file (opens exclude.plantingWindowSeconds). */
  plantedAt?: string;
}

export interface KiveData {
  apiVersion: typeof API_VERSION;
  kind: 'KiveData';
  metadata: ObjectMeta;
  spec: KiveDataSpec;
}

/** KiveAlert v1: the JSON of the original Kive API (docs/alerts.md). Extra fields are allowed. */
export interface KiveAlertV1 {
  'kive-alert-version': 'v1';
  'kive-policy-name': string;
  /** RFC 3339, UTC. */
  timestamp: string;
  metadata: {
    path: string;
    inode: number;
    /** The kernel's MAY_* bits. */
    mask: number;
    'kernel-id': string;
  };
  'custom-metadata': Record<string, string>;
  pod: {
    name: string;
    namespace: string;
    container: { id: string; name: string };
  };
  node: { name: string };
  process: {
    pid: number;
    tgid: number;
    uid: number;
    gid: number;
    binary: string;
    cwd: string;
    arguments: string;
  };
}
