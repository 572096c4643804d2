// The API writes of the controllers, over the k8s layer. Every write is idempotent:
// server-side apply with one field manager per writer, deletes that treat 404 as done.
// An apply the API server refuses as invalid (400, 422) fails the same way however often
// it is retried, so it becomes a TerminalError: the controller logs it and waits for the
// object to change instead of backing off forever (src/k8s/controller.ts).

import type { KiveData, KivePolicy, KivePolicyStatus, NodeReport } from '../api/v1/types.ts';
import { apply, applyStatus, jsonPatch } from '../k8s/apply.ts';
import { addFinalizer, removeFinalizer } from '../k8s/finalizers.ts';
import { KIVE_DATA, KIVE_POLICIES } from '../api/v1/resources.ts';
import { LEASES, objectPath } from '../k8s/resource.ts';
import { TerminalError } from '../k8s/controller.ts';
import { isConflict, isNotFound, isStatus, type Requester } from '../k8s/rest.ts';
import type { DiscoverWriter } from '../controllers/discover.ts';
import { POLICY_FINALIZER, type PolicyStatusWriter } from '../controllers/policy-status.ts';
import { loaderLeaseName, POD_CONTROLLER } from './names.ts';

export const FIELD_MANAGERS = {
  discover: 'kive-discover',
  /** Status reports: one manager per node, so their entries in status.nodes merge. */
  nodeReport: (node: string) => `kive-discover-${node}`.slice(0, 128),
  podController: POD_CONTROLLER,
} as const;

/**
 * Removes one node's report from a policy's status.nodes, only if the entry at that index
 * is still exactly `report` (a JSON patch `test` first): a node that wrote a new report
 * meanwhile keeps it. A refused test (422) or a policy gone (404) leaves nothing to do;
 * the next dead-kernel run looks again.
 */
export async function removeNodeReport(client: Requester, policy: KivePolicy, report: NodeReport): Promise<void> {
  const i = (policy.status?.nodes ?? []).findIndex((n) => n.node === report.node);
  if (i < 0) return;
  try {
    await jsonPatch(client, KIVE_POLICIES, policy.metadata.namespace, policy.metadata.name, [
      { op: 'test', path: `/status/nodes/${i}`, value: report },
      { op: 'remove', path: `/status/nodes/${i}` },
    ], { subresource: 'status', fieldManager: FIELD_MANAGERS.podController });
  } catch (err) {
    if (!isNotFound(err) && !isStatus(err, 422)) throw err;
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** `p`, with a refusal of the object itself turned into a TerminalError. */
async function refusedIsTerminal(what: string, p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (isStatus(err, 422) || isStatus(err, 400)) {
      throw new TerminalError(`${what}: the API server refused it; retrying the same write cannot help: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Deletes the loader Lease of a kernel that stopped, with the resourceVersion it was last
 * seen at as a precondition: a Lease renewed meanwhile (409) stays, one gone (404) is done.
 */
export async function deleteLoaderLease(client: Requester, namespace: string, kernelId: string, resourceVersion: string): Promise<void> {
  try {
    await client.request({
      method: 'DELETE',
      path: objectPath(LEASES, namespace, loaderLeaseName(kernelId)),
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } },
    });
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
}

export async function deleteKiveData(client: Requester, namespace: string, name: string): Promise<void> {
  await ignoreNotFound(client.request({ method: 'DELETE', path: objectPath(KIVE_DATA, namespace, name) }));
}

const policyRef = (p: KivePolicy) => ({ name: p.metadata.name, namespace: p.metadata.namespace ?? '' });

export function discoverWriter(client: Requester, nodeName: string): DiscoverWriter {
  return {
    apply: (data: KiveData) =>
      refusedIsTerminal(`apply KiveData ${data.metadata.name}`, apply(client, KIVE_DATA, data, { fieldManager: FIELD_MANAGERS.discover, force: true })),
    delete: (namespace, name) => deleteKiveData(client, namespace, name),
    reportStatus: (policy: KivePolicy, report: NodeReport) =>
      refusedIsTerminal(
        `report node ${nodeName} on KivePolicy ${policy.metadata.name}`,
        ignoreNotFound(
          applyStatus(
            client,
            KIVE_POLICIES,
            { apiVersion: policy.apiVersion, kind: 'KivePolicy', metadata: policyRef(policy), status: { nodes: [report] } },
            { fieldManager: FIELD_MANAGERS.nodeReport(nodeName), force: true },
          ),
        ),
      ),
  };
}

export function policyStatusWriter(client: Requester): PolicyStatusWriter {
  return {
    deleteKiveData: (namespace, name) => deleteKiveData(client, namespace, name),
    addFinalizer: (policy) => ignoreNotFound(addFinalizer(client, KIVE_POLICIES, policy, POLICY_FINALIZER)),
    removeFinalizer: (policy) => ignoreNotFound(removeFinalizer(client, KIVE_POLICIES, policy, POLICY_FINALIZER)),
    applyPolicyStatus: (policy: KivePolicy, status: KivePolicyStatus) =>
      refusedIsTerminal(
        `write the status of KivePolicy ${policy.metadata.name}`,
        ignoreNotFound(
          applyStatus(
            client,
            KIVE_POLICIES,
            { apiVersion: policy.apiVersion, kind: 'KivePolicy', metadata: policyRef(policy), status },
            { fieldManager: FIELD_MANAGERS.podController, force: true },
          ),
        ),
      ),
  };
}
