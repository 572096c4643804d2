// What the operator's integration tests share: a real API server with Kive's CRDs, a
// private containerd with the test images, and small readers and writers of pods,
// policies and KiveData. There is no kubelet: the tests write Pod objects and their
// status themselves, as a kubelet would.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kiveDataCrd, kivePolicyCrd } from '../../src/api/v1/crds.ts';
import type { KiveData, KivePolicy } from '../../src/api/v1/types.ts';
import { KubeClient } from '../../src/k8s/rest.ts';
import { readKernelId } from '../../src/runtime/kernel-id.ts';
import { startControlPlane, type ControlPlane } from './cluster.ts';
import { Containerd, type TestContainer } from './containers.ts';
import { loadScaled } from './load-scale.ts';

const run = promisify(execFile);

export const NODE = 'kive-test-node';
export const NS = 'kivebpf-system';
export const LEASE_ARGS = ['--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '300'];
const API = '/apis/kivebpf.san7o.github.io/v1';

/**
 * Polls `fn` every 200 ms until it returns something other than undefined or false. The
 * timeout is for a quiet machine and grows with its load (load-scale.ts); the default
 * only bounds how long something missing is waited for: a first reconcile took 17-21 s
 * on a machine at load 18 (2 CPUs), so 20 s was a coin toss there.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, quietTimeoutMs = 60_000): Promise<T> {
  const timeoutMs = loadScaled(quietTimeoutMs);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Reads `path` inside the container, as a process of the container would. */
export const catInside = (c: TestContainer, path: string) => run('nsenter', ['--target', String(c.pid), '--mount', '--', '/bin/cat', path]);

let execSeq = 0;
/**
 * `cat` run the way `kubectl exec` runs it: by the runtime, in the container's cgroups
 * (catInside only enters its mount namespace, so its cgroup is the test's own).
 */
export const catInContainer = (cd: Containerd, c: TestContainer, path: string) =>
  cd.ctr(['task', 'exec', '--exec-id', `kive-cat-${process.pid}-${++execSeq}`, c.id, '/bin/cat', path], c.sandboxId !== undefined ? 'k8s.io' : 'default');

export type ContainerState = { running: { startedAt: string } } | { waiting: { reason: string } } | { terminated: { exitCode: number; reason: string } };

export class OperatorEnv {
  readonly cp: ControlPlane;
  readonly client: KubeClient;
  readonly containerd: Containerd;
  readonly kernelId: string;
  /** The operators' callback spool: this test's own, never the host's /var/lib/kive. */
  readonly spoolDir = join(mkdtempSync(join(tmpdir(), 'kive-spool-')), 'spool');

  private constructor(cp: ControlPlane, containerd: Containerd, kernelId: string) {
    this.cp = cp;
    this.client = new KubeClient(cp.kubeConfig);
    this.containerd = containerd;
    this.kernelId = kernelId;
  }

  /** Control plane with the CRDs established and namespace NS, containerd with the images. The caller stops it. */
  static async start(): Promise<OperatorEnv> {
    const cp = await startControlPlane({ registerAfter: false });
    let containerd: Containerd | undefined;
    try {
      const client = new KubeClient(cp.kubeConfig);
      const post = (path: string, body: unknown) => client.request({ method: 'POST', path, body });
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
      return new OperatorEnv(cp, containerd, await readKernelId());
    } catch (err) {
      await containerd?.stop();
      await cp.stop();
      throw err;
    }
  }

  /** `kive operator` arguments for this environment (kernel grace 4 s, short leases). */
  operatorArgs(): string[] {
    return ['--kubeconfig', this.cp.kubeconfigPath, '--node-name', NODE, '--namespace', NS, '--cri-socket', this.containerd.socket, '--kernel-grace-ms', '4000', '--metrics-address', '127.0.0.1:0', '--spool-dir', this.spoolDir, ...LEASE_ARGS];
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.client.request({ method: 'POST', path, body });
  }

  /** A pod on NODE in namespace default whose container `app` is `c` (running), or not started yet (undefined). */
  async createPod(name: string, c: TestContainer | undefined, labels: Record<string, string> = {}): Promise<string> {
    const pod = (await this.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels },
      spec: { nodeName: NODE, containers: [{ name: 'app', image: 'kive.test/busybox:1' }] },
    })) as { metadata: { uid: string } };
    if (c !== undefined) await this.setPodContainer(name, c);
    else await this.setPodStatus(name, undefined, { waiting: { reason: 'ContainerCreating' } });
    return pod.metadata.uid;
  }

  /** What a kubelet reports once container `app` of pod `name` is `c`, running. */
  setPodContainer(name: string, c: TestContainer): Promise<void> {
    return this.setPodStatus(name, c, { running: { startedAt: new Date().toISOString() } });
  }

  async setPodStatus(name: string, c: TestContainer | undefined, state: ContainerState): Promise<void> {
    await this.client.request({
      method: 'PATCH',
      path: `/api/v1/namespaces/default/pods/${name}/status`,
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          phase: c === undefined && 'waiting' in state ? 'Pending' : 'Running',
          podIP: '10.88.0.5',
          podIPs: [{ ip: '10.88.0.5' }],
          containerStatuses: [
            { name: 'app', ...(c ? { containerID: `containerd://${c.id}` } : {}), ready: 'running' in state, restartCount: 0, image: 'kive.test/busybox:1', imageID: '', state },
          ],
        },
      },
    });
  }

  policy(name: string, traps: KivePolicy['spec']['traps']): KivePolicy {
    return { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name, namespace: NS }, spec: { traps } };
  }

  createPolicy(name: string, traps: KivePolicy['spec']['traps']): Promise<unknown> {
    return this.post(`${API}/namespaces/${NS}/kivepolicies`, this.policy(name, traps));
  }

  getPolicy(name: string): Promise<KivePolicy> {
    return this.client.request({ method: 'GET', path: `${API}/namespaces/${NS}/kivepolicies/${name}` });
  }

  async kiveData(selector: string): Promise<KiveData[]> {
    return ((await this.client.request({ method: 'GET', path: `${API}/namespaces/${NS}/kivedata`, query: { labelSelector: selector } })) as { items: KiveData[] }).items;
  }

  async stop(): Promise<void> {
    await this.containerd.stop();
    await this.cp.stop();
    rmSync(join(this.spoolDir, '..'), { recursive: true, force: true });
  }
}
