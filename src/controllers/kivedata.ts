// Builds the KiveData for one trap in one container, and reads one back into the trap
// context alerts need. Pure: the identity of the file comes in from the caller.

import type { TrapContext } from '../alerts/build.ts';
import { API_VERSION, type KiveData, type KivePolicy, type KiveTrap } from '../api/v1/types.ts';
import type { FileKey } from '../kernel/contract.ts';
import { trapContext } from '../traps/context.ts';
import type { SelectedContainer } from './match.ts';
import { kiveDataName, LABELS, labelValue, MANAGED_BY, trapId as computeTrapId } from './naming.ts';

export interface KiveDataInput {
  policy: KivePolicy;
  trap: KiveTrap;
  container: SelectedContainer;
  file: FileKey;
  kernelId: string;
  nodeName: string;
  /** Namespace the operator keeps KiveData in (kivebpf-system by default). */
  namespace: string;
}

export function buildKiveData(input: KiveDataInput): KiveData {
  const { policy, trap, container, file, kernelId, nodeName, namespace } = input;
  const pod = container.pod.metadata;
  const id = computeTrapId(policy, trap);
  const ino = file.ino;
  return {
    apiVersion: API_VERSION,
    kind: 'KiveData',
    metadata: {
      name: kiveDataName(id, pod.uid, pod.name, pod.namespace, container.containerName),
      namespace,
      labels: {
        [LABELS.kernelId]: labelValue(kernelId),
        [LABELS.trapId]: id,
        [LABELS.policy]: labelValue(policy.metadata.name),
        [LABELS.policyNamespace]: labelValue(policy.metadata.namespace ?? ''),
        [LABELS.node]: labelValue(nodeName),
        [LABELS.podUid]: labelValue(pod.uid),
        [LABELS.managedBy]: MANAGED_BY,
      },
    },
    spec: {
      // inodeNo keeps the original API's integer field (docs/design.md); `inode` is exact even past 2^53.
      inodeNo: Number(ino),
      devId: file.dev,
      metadata: { ...(trap.metadata ?? {}) },
      kernelId,
      policyName: policy.metadata.name,
      policyNamespace: policy.metadata.namespace ?? '',
      trapId: id,
      path: trap.path,
      alertVersion: policy.spec.alertVersion ?? 'v1',
      ...(trap.callback !== undefined ? { callback: trap.callback } : {}),
      nodeName,
      podName: pod.name,
      podNamespace: pod.namespace,
      podUid: pod.uid,
      podIp: container.pod.status?.podIP ?? '',
      containerId: container.containerId ?? '',
      containerName: container.containerName,
      inode: ino.toString(),
      ...(trap.exclude !== undefined ? { exclude: trap.exclude } : {}),
    },
  };
}

/** The file a KiveData arms: `inode` when present (exact), else the original API's `inodeNo`. */
export function fileOf(data: KiveData): FileKey {
  const exact = data.spec.inode;
  return { ino: exact !== undefined && /^\d+$/.test(exact) ? BigInt(exact) : BigInt(data.spec.inodeNo), dev: data.spec.devId };
}

/** What alerts say about the trap a KiveData arms, node of its container included. */
export function trapContextOf(data: KiveData): TrapContext {
  const s = data.spec;
  return trapContext({
    policyName: s.policyName ?? '',
    path: s.path ?? '',
    metadata: s.metadata,
    callback: s.callback,
    pod: { name: s.podName, namespace: s.podNamespace, uid: s.podUid },
    container: { id: s.containerId, name: s.containerName },
    nodeName: s.nodeName,
    exclude: s.exclude,
    // KiveData live in the operator's namespace: a policy elsewhere is a tenant's.
    tenantNamespace: s.policyNamespace !== undefined && s.policyNamespace !== data.metadata.namespace ? s.policyNamespace : undefined,
    plantedAtMs: s.plantedAt !== undefined ? Date.parse(s.plantedAt) : undefined,
  });
}
