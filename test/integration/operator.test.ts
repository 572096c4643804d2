// The operator end to end: a real kube-apiserver + etcd, real containers (containerd +
// runc, created through CRI), the real kernel, and `kive operator` as a child process.
// There is no kubelet: the test writes the Pod objects and their status itself.
//
// Runs as root (containers, eBPF). The steps share one control plane, one containerd
// and one operator, and run in order.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { kiveDataCrd, kivePolicyCrd } from '../../src/api/v1/crds.ts';
import type { KiveData, KivePolicy } from '../../src/api/v1/types.ts';
import { KubeClient } from '../../src/k8s/rest.ts';
import { readKernelId } from '../../src/runtime/kernel-id.ts';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { startControlPlane, type ControlPlane } from '../helpers/cluster.ts';
import { Containerd, containersUnavailable, type TestContainer } from '../helpers/containers.ts';
import { startOperator, type OperatorProcess } from '../helpers/operator.ts';

const run = promisify(execFile);
const NODE = 'kive-test-node';
const NS = 'kivebpf-system';
const LEASE_ARGS = ['--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '300'];

let cp: ControlPlane;
let client: KubeClient;
let containerd: Containerd;
let kernelId: string;
const operators: OperatorProcess[] = [];
const containers: TestContainer[] = [];

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const post = (path: string, body: unknown) => client.request({ method: 'POST', path, body });

async function createPod(name: string, c: TestContainer, labels: Record<string, string> = {}): Promise<string> {
  const pod = (await post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { nodeName: NODE, containers: [{ name: 'app', image: 'kive.test/busybox:1' }] },
  })) as { metadata: { uid: string } };
  await setPodContainer(name, c);
  return pod.metadata.uid;
}

async function setPodContainer(name: string, c: TestContainer): Promise<void> {
  await client.request({
    method: 'PATCH',
    path: `/api/v1/namespaces/default/pods/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        podIP: '10.88.0.5',
        podIPs: [{ ip: '10.88.0.5' }],
        containerStatuses: [
          { name: 'app', containerID: `containerd://${c.id}`, ready: true, restartCount: 0, image: 'kive.test/busybox:1', imageID: '', state: { running: { startedAt: new Date().toISOString() } } },
        ],
      },
    },
  });
}

function policy(name: string, traps: KivePolicy['spec']['traps']): KivePolicy {
  return { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name, namespace: NS }, spec: { traps } };
}

const kiveData = async (selector: string) =>
  ((await client.request({ method: 'GET', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivedata`, query: { labelSelector: selector } })) as { items: KiveData[] }).items;

/** Reads `path` inside the container, as a process of the container would. */
const catInside = (c: TestContainer, path: string) => run('nsenter', ['--target', String(c.pid), '--mount', '--', '/bin/cat', path]);

const skip = containersUnavailable();

describe('kive operator on a real API server, real containers and the real kernel', { skip, concurrency: false }, () => {
  before(async () => {
    cp = await startControlPlane({ registerAfter: false });
    client = new KubeClient(cp.kubeConfig);
    kernelId = await readKernelId();
    for (const crd of [kivePolicyCrd, kiveDataCrd]) await post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    // No kube-controller-manager here, so nobody creates the default ServiceAccount that
    // the ServiceAccount admission plugin wants before it admits a pod.
    await post('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
    for (const name of ['kivepolicies', 'kivedata']) {
      await until(`CRD ${name} established`, async () => {
        const crd = (await client.request({ method: 'GET', path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}.kivebpf.san7o.github.io` })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
      });
    }
    containerd = await Containerd.start();
    await containerd.importImages();
  });

  after(async () => {
    for (const op of operators) await op.kill('SIGKILL');
    for (const c of containers) await c.stop();
    await containerd?.stop();
    await cp?.stop();
  });

  const operatorArgs = () => ['--kubeconfig', cp.kubeconfigPath, '--node-name', NODE, '--namespace', NS, '--cri-socket', containerd.socket, '--kernel-grace-ms', '4000', ...LEASE_ARGS];

  test('policy -> KiveData -> map -> cat inside the container -> alert naming the pod and container', async () => {
    const c = await containerd.runCri();
    containers.push(c);
    await createPod('web-1', c, { app: 'web' });
    operators.push(startOperator('op-1', operatorArgs()));
    await operators[0]!.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy('honey', [
      { path: '/honey.txt', create: true, mode: 440, matchAny: [{ matchLabels: { app: 'web' } }], metadata: { severity: 'critical' } },
    ]));
    const data = await until('KiveData for web-1', async () => (await kiveData('kivebpf.san7o.github.io/policy=honey')).find((d) => d.spec.podName === 'web-1'));
    assert.equal(data!.spec.containerName, 'app');
    assert.equal(data!.spec.containerId, `containerd://${c.id}`);
    assert.equal(data!.metadata.labels?.['kivebpf.san7o.github.io/kernel-id'], kernelId);
    // the honeytoken exists inside the container with the asked mode
    assert.equal(statSync(`/proc/${c.pid}/root/honey.txt`).mode & 0o777, 0o440);

    const alert = await until('an alert for cat inside web-1', async () => {
      await catInside(c, '/honey.txt');
      return operators[0]!.alerts.find((a) => a.pod?.name === 'web-1');
    });
    assertKiveAlertV1(alert);
    assert.equal(alert['kive-policy-name'], 'honey');
    assert.equal(alert.metadata.path, '/honey.txt');
    assert.equal(alert.metadata['kernel-id'], kernelId);
    assert.deepEqual(alert.pod, { name: 'web-1', namespace: 'default', container: { id: `containerd://${c.id}`, name: 'app' } });
    assert.equal(alert.node.name, NODE);
    assert.deepEqual(alert['custom-metadata'], { severity: 'critical' });
    assert.equal(alert.process.comm, 'cat');

    const status = await until('Ready=True on the policy', async () => {
      const p = (await client.request({ method: 'GET', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/honey` })) as KivePolicy;
      return p.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True') ? p.status : undefined;
    });
    assert.equal(status.armedTraps, 1);
  });
});
