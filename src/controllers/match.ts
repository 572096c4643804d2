// Which containers a trap selects. Pure: pods in, container references out.
//
// A trap's `matchAny` is a list of blocks, OR-ed; inside a block every item present must
// match (AND): pod name, namespace, pod IP, container name (exact, `regex:` or `glob:`)
// and labels (all present with equal values). The design requires at least one block,
// so a trap without `matchAny` selects nothing in a cluster (and says why in the policy
// status) rather than every container of every pod.

import picomatch from 'picomatch';
import type { RE2JS } from 're2js';
import type { MatchBlock, KiveTrap } from '../api/v1/types.ts';
import { compileContainerRegex } from '../api/v1/rules.ts';

/** The parts of a core/v1 Pod Kive reads, as plain JSON. */
export interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string; containers?: Array<{ name: string }> };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    containerStatuses?: ContainerStatus[];
  };
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  ready?: boolean;
  state?: { running?: { startedAt?: string }; waiting?: unknown; terminated?: unknown };
}

/** A container selected by a trap, whether or not it is running yet. */
export interface SelectedContainer {
  pod: Pod;
  containerName: string;
  /** As in the pod status (`containerd://<id>`), once the container has started. */
  containerId: string | undefined;
  running: boolean;
}

type NameMatcher = (name: string) => boolean;

const matcherCache = new Map<string, NameMatcher>();

/**
 * `regex:` uses RE2 (the dialect the API server's CEL validated) and, like Go's
 * regexp.MatchString in the original implementation, matches anywhere in the name: anchor
 * with ^...$ for a whole-name match. `glob:` matches the whole name.
 */
export function containerNameMatcher(spec: string): NameMatcher {
  let m = matcherCache.get(spec);
  if (m !== undefined) return m;
  if (spec.startsWith('regex:')) {
    const re: RE2JS = compileContainerRegex(spec.slice('regex:'.length).trim());
    m = (name) => re.matcher(name).find();
  } else if (spec.startsWith('glob:')) {
    m = picomatch(spec.slice('glob:'.length).trim(), { dot: true });
  } else {
    m = (name) => name === spec;
  }
  if (matcherCache.size > 1024) matcherCache.clear();
  matcherCache.set(spec, m);
  return m;
}

function podIps(pod: Pod): string[] {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (pod.status?.podIP && !ips.includes(pod.status.podIP)) ips.push(pod.status.podIP);
  return ips;
}

/** Does `block` select container `containerName` of `pod`? */
export function blockMatches(block: MatchBlock, pod: Pod, containerName: string): boolean {
  if (block.pod !== undefined && block.pod !== pod.metadata.name) return false;
  if (block.namespace !== undefined && block.namespace !== pod.metadata.namespace) return false;
  if (block.ip !== undefined && !podIps(pod).includes(block.ip)) return false;
  if (block.containerName !== undefined && !containerNameMatcher(block.containerName)(containerName)) return false;
  if (block.matchLabels !== undefined) {
    const labels = pod.metadata.labels ?? {};
    for (const [k, v] of Object.entries(block.matchLabels)) if (labels[k] !== v) return false;
  }
  return true;
}

/**
 * The namespace boundary. A KivePolicy in the operator's own namespace (kivebpf-system by
 * default) belongs to whoever runs Kive and may select pods anywhere; a KivePolicy in any
 * other namespace selects only pods of its own namespace, so a tenant allowed to create
 * policies there cannot plant files in, or receive process details from, other tenants'
 * containers. docs/operator.md, "Namespaces and RBAC".
 */
export function namespaceAllowed(policyNamespace: string | undefined, operatorNamespace: string, podNamespace: string): boolean {
  return policyNamespace === operatorNamespace || (policyNamespace !== undefined && policyNamespace === podNamespace);
}

/**
 * The `namespace:` items of `trap` a policy in `policyNamespace` may not name, without
 * duplicates. The API server cannot refuse them: the operator's namespace is a flag of the
 * operator (--namespace / $POD_NAMESPACE), unknown to the CRD's CEL rules, so the
 * discover controller reports them as Ready=False NamespaceNotAllowed instead.
 */
export function forbiddenNamespaces(trap: KiveTrap, policyNamespace: string | undefined, operatorNamespace: string): string[] {
  const out = new Set<string>();
  for (const b of trap.matchAny ?? []) {
    if (b.namespace !== undefined && !namespaceAllowed(policyNamespace, operatorNamespace, b.namespace)) out.add(b.namespace);
  }
  return [...out];
}

const isRunning = (s: ContainerStatus | undefined): boolean => s?.state?.running !== undefined && Boolean(s.containerID);

/**
 * Every container of `pod` that `trap` selects, with whether it runs now. A pod being
 * deleted (deletionTimestamp set) keeps running its containers through its grace period
 * (30 s by default) and they can still read the file, so its running containers stay
 * selected; the others are left out, as they will never start.
 */
export function selectContainers(trap: KiveTrap, pod: Pod): SelectedContainer[] {
  const blocks = trap.matchAny ?? [];
  if (blocks.length === 0 || podIsFinished(pod)) return [];
  const deleting = pod.metadata.deletionTimestamp !== undefined;
  const statuses = new Map((pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
  const names = pod.spec?.containers?.map((c) => c.name) ?? [...statuses.keys()];
  const selected: SelectedContainer[] = [];
  for (const containerName of names) {
    if (!blocks.some((b) => blockMatches(b, pod, containerName))) continue;
    const status = statuses.get(containerName);
    const running = isRunning(status);
    if (deleting && !running) continue;
    selected.push({ pod, containerName, containerId: status?.containerID || undefined, running });
  }
  return selected;
}

/**
 * A pod whose containers have stopped for good: its KiveData can go. That is a pod that
 * succeeded or failed, or one being deleted once none of its containers runs any more;
 * a pod being deleted whose containers still run (its grace period) is not finished.
 */
export function podIsFinished(pod: Pod): boolean {
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return true;
  return pod.metadata.deletionTimestamp !== undefined && !(pod.status?.containerStatuses ?? []).some(isRunning);
}
