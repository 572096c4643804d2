// `kive cleanup` (the Helm chart's pre-delete hook) against a real API server: what an
// operator leaves in a cluster (its DaemonSet, KivePolicies holding its finalizer, one of
// them already being deleted, KiveData, Leases) next to what is not Kive's (another
// finalizer, another Lease). While an operator pod is left it changes nothing but the
// DaemonSet and fails with the pod's name; once the pods are gone it removes exactly
// Kive's finalizer, KiveData and Leases. No kube-controller-manager runs here, so the
// DaemonSet makes no pods and nothing collects the one the test adds: the waiting is
// driven by hand (test/e2e/e2e-helm.ts runs the real hook on a real cluster).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { kiveDataCrd, kivePolicyCrd } from '../../src/api/v1/crds.ts';
import { POLICY_FINALIZER } from '../../src/controllers/policy-status.ts';
import { KubeClient } from '../../src/k8s/rest.ts';
import { startControlPlane } from '../helpers/cluster.ts';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const NS = 'kive-clean';
const GROUP = '/apis/kivebpf.san7o.github.io/v1';
const OTHER_FINALIZER = 'example.com/keep-me';
const cp = await startControlPlane();
const client = new KubeClient(cp.kubeConfig);
type Obj = Record<string, any>;
const post = (path: string, body: unknown) => client.request<Obj>({ method: 'POST', path, body });
const get = (path: string) => client.request<Obj>({ method: 'GET', path });
const names = async (path: string) => ((await get(path)).items as Obj[]).map((o) => o.metadata.name as string).sort();

async function until<T>(what: string, fn: () => Promise<T | undefined>, limitMs = 30_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function cleanup(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KIVE, ['cleanup', '--kubeconfig', cp.kubeconfigPath, '--namespace', NS, '--log-format', 'json', ...args], { timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

const trap = { path: '/honey.txt', matchAny: [{ namespace: 'default' }] };
const policy = (name: string, namespace: string, finalizers: string[]) =>
  post(`${GROUP}/namespaces/${namespace}/kivepolicies`, { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name, finalizers }, spec: { traps: [trap] } });
const finalizersOf = async (namespace: string, name: string) => ((await get(`${GROUP}/namespaces/${namespace}/kivepolicies/${name}`)).metadata.finalizers ?? []) as string[];

// What a running operator leaves behind.
for (const crd of [kivePolicyCrd, kiveDataCrd]) await post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
for (const plural of ['kivepolicies', 'kivedata']) {
  await until(`CRD ${plural} established`, async () =>
    ((await get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.kivebpf.san7o.github.io`)).status?.conditions as Obj[] | undefined)
      ?.some((c) => c.type === 'Established' && c.status === 'True') || undefined);
}
await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
for (const ns of [NS, 'default']) await post(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
const labels = { 'app.kubernetes.io/name': 'kivebpf' };
const ds = await post(`/apis/apps/v1/namespaces/${NS}/daemonsets`, {
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'kive-operator', labels },
  spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'operator', image: 'kive:test' }] } } },
});
// A pod of that DaemonSet, as its controller would have made it (never scheduled here).
await post(`/api/v1/namespaces/${NS}/pods`, {
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'kive-operator-x1', labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kive-operator', uid: ds.metadata.uid, controller: true }] },
  spec: { containers: [{ name: 'operator', image: 'kive:test' }] },
});
await policy('in-operator-ns', NS, [POLICY_FINALIZER]);
await policy('two-finalizers', 'default', [OTHER_FINALIZER, POLICY_FINALIZER]);
await policy('not-yet-seen', 'default', []);
await policy('being-deleted', 'default', [POLICY_FINALIZER]);
await client.request({ method: 'DELETE', path: `${GROUP}/namespaces/default/kivepolicies/being-deleted` });
for (const name of ['kd-1', 'kd-2']) {
  await post(`${GROUP}/namespaces/${NS}/kivedata`, {
    apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KiveData', metadata: { name },
    spec: { inodeNo: 1, devId: 1, kernelId: 'k1', podName: 'web', podNamespace: 'default', podUid: 'u1' },
  });
}
for (const name of ['kive-loader-k1', 'kive-pod-controller', 'another-app']) {
  await post(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: 'x' } });
}

test('bad flags: one line, exit 2, nothing touched', async () => {
  const r = await cleanup('--timeout-ms', 'soon');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.split('\n')[0]!, /^kive: --timeout-ms must be a positive integer \(milliseconds\), got "soon"$/);
  assert.deepEqual(await names(`/apis/apps/v1/namespaces/${NS}/daemonsets`), ['kive-operator']);
});

test('an operator pod that does not stop: the DaemonSet goes, nothing else changes, exit 1 naming the pod', async () => {
  const r = await cleanup('--timeout-ms', '2000');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^kive: operator pods still there after 2 s: kive-operator-x1 \(namespace kive-clean\); nothing else was changed/m);
  assert.equal(r.stdout, '');
  assert.deepEqual(await names(`/apis/apps/v1/namespaces/${NS}/daemonsets`), [], 'the DaemonSet is deleted first');
  assert.deepEqual(await finalizersOf(NS, 'in-operator-ns'), [POLICY_FINALIZER]);
  assert.deepEqual(await finalizersOf('default', 'being-deleted'), [POLICY_FINALIZER]);
  assert.deepEqual(await names(`${GROUP}/namespaces/${NS}/kivedata`), ['kd-1', 'kd-2']);
  assert.deepEqual(await names(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`), ['another-app', 'kive-loader-k1', 'kive-pod-controller']);
});

test('once the operator pods are gone: no Kive finalizer, KiveData or Lease is left; the policies and what is not Kive\'s stay', async () => {
  await client.request({ method: 'DELETE', path: `/api/v1/namespaces/${NS}/pods/kive-operator-x1`, query: { gracePeriodSeconds: '0' } });
  await until('the pod gone', async () => ((await names(`/api/v1/namespaces/${NS}/pods`)).length === 0 ? true : undefined));
  const r = await cleanup();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '', 'logs go to stderr');
  const done = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Obj).find((l) => l.msg?.startsWith('cleanup done'));
  assert.deepEqual([done?.daemonSetDeleted, done?.finalizersRemoved, done?.kiveDataDeleted, done?.leasesDeleted], [false, 3, 2, 2], r.stderr);

  assert.deepEqual(await finalizersOf(NS, 'in-operator-ns'), []);
  assert.deepEqual(await finalizersOf('default', 'two-finalizers'), [OTHER_FINALIZER], 'another controller\'s finalizer stays');
  assert.deepEqual(await names(`${GROUP}/namespaces/default/kivepolicies`), ['not-yet-seen', 'two-finalizers'], 'the policy being deleted is gone; the others stay');
  assert.deepEqual(await names(`${GROUP}/namespaces/${NS}/kivedata`), []);
  assert.deepEqual(await names(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`), ['another-app']);

  const again = await cleanup();
  assert.equal(again.code, 0, `a second run finds nothing to do: ${again.stderr}`);
  assert.match(again.stderr, /no DaemonSet, KiveData or Kive Lease in this namespace; removing the finalizers anyway/, 'and says it found no operator there');
});

test('credentials without the cleanup\'s permissions: one line naming what was refused, exit 2', async () => {
  const kc = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { users: Array<{ user: Record<string, unknown> }> };
  for (const u of kc.users) u.user = { ...u.user, as: 'kive-test-nobody' };
  const nobody = join(dirname(cp.kubeconfigPath), 'kubeconfig-nobody');
  writeFileSync(nobody, stringify(kc));
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(KIVE, ['cleanup', '--kubeconfig', nobody, '--namespace', NS], { timeout: 60_000 }, (err, _out, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }));
  });
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^kive: DELETE .*daemonsets\/kive-operator.* forbidden.*kive-test-nobody.*needs the rules of the chart's kive-cleanup Role/);
});
