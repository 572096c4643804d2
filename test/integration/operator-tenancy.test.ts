// Namespace boundaries on a real API server, real containers and the real kernel: a
// KivePolicy in a tenant namespace arms and creates files only in its own namespace's
// containers, says Ready=False NamespaceNotAllowed when it names another namespace, and
// its status shows nothing of the other namespaces; a policy in the operator's namespace
// reaches every namespace. docs/operator.md, "Namespaces and RBAC".
//
// Runs as root (containers, eBPF). The steps share one control plane, one containerd
// and one operator, and run in order.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { KivePolicy } from '../../src/api/v1/types.ts';
import { containersUnavailable, type TestContainer } from '../helpers/containers.ts';
import { catInside, NODE, NS, OperatorEnv, until } from '../helpers/operator-env.ts';
import { startOperator, type OperatorProcess } from '../helpers/operator.ts';

const API = '/apis/kivebpf.san7o.github.io/v1';
let env: OperatorEnv;
let op: OperatorProcess;
const containers: TestContainer[] = [];
const byNs: Record<string, TestContainer> = {};

/** A running pod `name` in `ns` whose container `app` is `c`, as a kubelet would report it. */
async function tenantPod(ns: string, name: string, c: TestContainer): Promise<void> {
  await env.post(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'tenant' } },
    spec: { nodeName: NODE, containers: [{ name: 'app', image: 'kive.test/busybox:1' }] },
  });
  await env.client.request({
    method: 'PATCH',
    path: `/api/v1/namespaces/${ns}/pods/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        containerStatuses: [
          { name: 'app', containerID: `containerd://${c.id}`, ready: true, restartCount: 0, image: 'kive.test/busybox:1', imageID: '', state: { running: { startedAt: new Date().toISOString() } } },
        ],
      },
    },
  });
}

const createPolicy = (ns: string, name: string, traps: KivePolicy['spec']['traps']) =>
  env.post(`${API}/namespaces/${ns}/kivepolicies`, { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name, namespace: ns }, spec: { traps } });
const getPolicy = (ns: string, name: string): Promise<KivePolicy> => env.client.request({ method: 'GET', path: `${API}/namespaces/${ns}/kivepolicies/${name}` });
const kiveDataOf = (ns: string, name: string) => env.kiveData(`kivebpf.san7o.github.io/policy=${name},kivebpf.san7o.github.io/policy-namespace=${ns}`);

describe('kive operator: namespace boundaries between tenants', { skip: containersUnavailable(), concurrency: false }, () => {
  before(async () => {
    env = await OperatorEnv.start();
    for (const ns of ['team-a', 'team-b']) {
      await env.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      // No kube-controller-manager: the ServiceAccount admission plugin wants this first.
      await env.post(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
    }
    for (const ns of ['team-a', 'team-b', 'default']) {
      const c = await env.containerd.runCri();
      containers.push(c);
      byNs[ns] = c;
      await tenantPod(ns, `pod-${ns}`, c);
    }
    op = startOperator('op-tenancy', env.operatorArgs());
    await op.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    await op.waitForLog((l) => l.msg === 'pod controller leading', 30_000);
  });

  after(async () => {
    await op?.kill('SIGKILL');
    for (const c of containers) await c.stop();
    await env?.stop();
  });

  test('a team-a policy naming namespace default arms nothing and creates nothing outside team-a, and says NamespaceNotAllowed', async () => {
    await createPolicy('team-a', 'reach', [
      { path: '/planted-by-team-a.txt', create: true, matchAny: [{ namespace: 'default' }] },
      { path: '/team-a-own.txt', create: true, matchAny: [{ matchLabels: { app: 'tenant' } }] },
    ]);
    const status = await until('team-a policy reports NamespaceNotAllowed with its own pod armed', async () => {
      const p = await getPolicy('team-a', 'reach');
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === 'NamespaceNotAllowed' && p.status?.armedTraps === 1 ? p.status : undefined;
    }, 30_000);
    const ready = status.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /names namespace "default"; a KivePolicy in namespace "team-a" selects only pods of its own namespace/);

    const data = await kiveDataOf('team-a', 'reach');
    assert.deepEqual(data.map((d) => [d.spec.podNamespace, d.spec.podName, d.spec.containerName]), [['team-a', 'pod-team-a', 'app']]);
    assert.ok(existsSync(`/proc/${byNs['team-a']!.pid}/root/team-a-own.txt`), 'its own container got its honeytoken');
    for (const ns of ['default', 'team-b']) {
      const root = `/proc/${byNs[ns]!.pid}/root`;
      assert.equal(existsSync(`${root}/planted-by-team-a.txt`), false, `nothing planted in ${ns}`);
      assert.equal(existsSync(`${root}/team-a-own.txt`), false, `the label block did not reach ${ns}`);
    }
    // Its status (readable by whoever reads policies in team-a) names no other namespace's pod or container.
    const text = JSON.stringify(status);
    for (const ns of ['default', 'team-b']) {
      assert.doesNotMatch(text, new RegExp(`pod-${ns}|${byNs[ns]!.id}`), `status leaks nothing of ${ns}`);
    }

    // Its alerts come only from its own container: a read in default of a same-named path raises none for it.
    const before = op.alerts.length;
    const alert = await until('an alert for cat inside team-a', async () => {
      await catInside(byNs['team-a']!, '/team-a-own.txt');
      return op.alerts.slice(before).find((a) => a['kive-policy-name'] === 'reach');
    });
    assert.deepEqual([alert.pod?.namespace, alert.pod?.name], ['team-a', 'pod-team-a']);
  });

  test('a policy in the operator\'s namespace selects pods of every namespace', async () => {
    await createPolicy(NS, 'cluster', [{ path: '/cluster-wide.txt', create: true, matchAny: [{ namespace: 'default' }, { namespace: 'team-b' }] }]);
    const data = await until('KiveData in default and team-b', async () => {
      const d = await kiveDataOf(NS, 'cluster');
      return d.length === 2 ? d : undefined;
    }, 30_000);
    assert.deepEqual(data.map((d) => d.spec.podNamespace).sort(), ['default', 'team-b']);
    assert.ok(existsSync(`/proc/${byNs['default']!.pid}/root/cluster-wide.txt`));
    const p = await until('Ready=True', async () => {
      const x = await getPolicy(NS, 'cluster');
      return x.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? x : undefined;
    });
    assert.equal(p.status?.armedTraps, 2);
  });
});
