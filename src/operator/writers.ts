// The API writes of the controllers, over the k8s layer. Every write is idempotent:
// server-side apply with one field manager per writer, deletes that treat 404 as done.

import type { KiveData, KivePolicy, KivePolicyStatus, NodeReport } from '../api/v1/types.ts';
import { apply, applyStatus } from '../k8s/apply.ts';
import { addFinalizer, removeFinalizer } from '../k8s/finalizers.ts';
import { KIVE_DATA, KIVE_POLICIES, objectPath } from '../k8s/resource.ts';
import { isNotFound, type Requester } from '../k8s/rest.ts';
import type { DiscoverWriter } from '../controllers/discover.ts';
import { POLICY_FINALIZER, type PodControllerWriter } from '../controllers/pod.ts';

export const FIELD_MANAGERS = {
  discover: 'kive-discover',
  /** Status reports: one manager per node, so their entries in status.nodes merge. */
  nodeReport: (node: string) => `kive-discover-${node}`.slice(0, 128),
  podController: 'kive-pod-controller',
} as const;

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function deleteKiveData(client: Requester, namespace: string, name: string): Promise<void> {
  await ignoreNotFound(client.request({ method: 'DELETE', path: objectPath(KIVE_DATA, namespace, name) }));
}

const policyRef = (p: KivePolicy) => ({ name: p.metadata.name, namespace: p.metadata.namespace ?? '' });

export function discoverWriter(client: Requester, nodeName: string): DiscoverWriter {
  return {
    apply: async (data: KiveData) => {
      await apply(client, KIVE_DATA, data, { fieldManager: FIELD_MANAGERS.discover, force: true });
    },
    delete: (namespace, name) => deleteKiveData(client, namespace, name),
    reportStatus: (policy: KivePolicy, report: NodeReport) =>
      ignoreNotFound(
        applyStatus(
          client,
          KIVE_POLICIES,
          { apiVersion: policy.apiVersion, kind: 'KivePolicy', metadata: policyRef(policy), status: { nodes: [report] } },
          { fieldManager: FIELD_MANAGERS.nodeReport(nodeName), force: true },
        ),
      ),
  };
}

export function podControllerWriter(client: Requester): PodControllerWriter {
  return {
    deleteKiveData: (namespace, name) => deleteKiveData(client, namespace, name),
    addFinalizer: (policy) => ignoreNotFound(addFinalizer(client, KIVE_POLICIES, policy, POLICY_FINALIZER)),
    removeFinalizer: (policy) => ignoreNotFound(removeFinalizer(client, KIVE_POLICIES, policy, POLICY_FINALIZER)),
    applyPolicyStatus: (policy: KivePolicy, status: KivePolicyStatus) =>
      ignoreNotFound(
        applyStatus(
          client,
          KIVE_POLICIES,
          { apiVersion: policy.apiVersion, kind: 'KivePolicy', metadata: policyRef(policy), status },
          { fieldManager: FIELD_MANAGERS.podController, force: true },
        ),
      ),
  };
}
