// The Helm chart (deploy/helm/kive) against its one source, scripts/deploy/: `helm lint`;
// `helm template` renders exactly manifests.ts's objects and its pre-delete hook, for the
// defaults and for every value changed; the kustomize base (`kubectl kustomize`) is the
// chart's default render without the hook;
// and each render is accepted by a real kube-apiserver (`kubectl apply --dry-run=server
// --validate=strict`). helm is built from its Go module (test/cluster/build-helm.sh, run by
// `make helm-bin`), kubectl and the API server by test/cluster/build-bins.sh.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { CRD_FILES } from '../../src/api/v1/crds.ts';
import { cleanupHook, manifests } from '../../scripts/deploy/manifests.ts';
import { DEFAULTS, type Values } from '../../scripts/deploy/values.ts';
import { startControlPlane } from '../helpers/cluster.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(repo, 'deploy/helm/kive');
const HELM = execFileSync(join(repo, 'test/cluster/build-helm.sh'), ['--print'], { encoding: 'utf8' }).trim();
assert.ok(existsSync(HELM), `${HELM} is missing: run \`make helm-bin\` (test/cluster/build-helm.sh)`);
const cp = await startControlPlane();
const KUBECTL = join(cp.binDir, 'kubectl');
const work = mkdtempSync(join(tmpdir(), 'kive-chart-'));
after(() => rmSync(work, { recursive: true, force: true }));

type Obj = Record<string, any>;
function exec(bin: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((ok, fail) => {
    // helm's own cache and config stay in this test's directory.
    const env = { ...process.env, HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_DATA_HOME: join(work, 'helm/data') };
    const child = execFile(bin, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20, env }, (err, stdout, stderr) =>
      err ? fail(new Error(`${bin} ${args.join(' ')}: ${stderr || err.message}`)) : ok(stdout));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
const docs = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS() as Obj).filter((o) => o !== null);
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objs: Obj[]) => new Map(objs.map((o) => [key(o), o]));

/** Values as Helm merges a values file into the chart's: maps key by key, the rest replaced. */
function merged<T>(base: T, over: unknown): T {
  const isMap = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isMap(base) || !isMap(over)) return (over === undefined ? base : over) as T;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merged(out[k], v);
  return out as T;
}

let seq = 0;
async function helmTemplate(values: Partial<Values>, extra: string[] = []): Promise<string> {
  const file = join(work, `values-${++seq}.yaml`);
  writeFileSync(file, stringify(values));
  return exec(HELM, ['template', 'kive', CHART, '-f', file, ...extra]);
}

// Each setting changed at least once; nested settings are given whole.
const CASES: Array<[string, Partial<Values>]> = [
  ['defaults', {}],
  ['criSocket containerd', { criSocket: 'containerd' }],
  ['criSocket k3s', { criSocket: 'k3s' }],
  ['criSocket crio', { criSocket: 'crio' }],
  ['criSocket path', { criSocket: '/var/lib/rt/cri.sock' }],
  ['privileged', { privileged: true }],
  ['callback secret and CA', { callbackSecret: { name: 'kive-callback', secretKey: 'secret', caKey: 'ca.pem' } }],
  ['callback CA only', { callbackSecret: { name: 'kive-ca', secretKey: '', caKey: 'ca.pem' } }],
  ['image, resources', { image: { repository: 'registry.example/kive', tag: '9.9.9', pullPolicy: 'Always' }, resources: { requests: { cpu: '100m', memory: '300Mi' }, limits: { memory: '1Gi' } } }],
  ['scheduling', { tolerations: [], priorityClassName: 'system-node-critical' }],
  ['scheduling, some', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'sec', effect: 'NoSchedule' }], nodeSelector: { pool: 'a' } }],
  ['flags', { backend: 'tracepoint', metricsPort: 9191, logFormat: 'text', terminationGracePeriodSeconds: 45, kernelGraceSeconds: 20 }],
  ['extra flags', { extraArgs: ['--max-traps=131072', '--kernel-id=0b6f3c9e-6a1e-4d38-9d0e-3f1f4b7c2a10'] }],
  ['own namespace', { namespace: { name: 'security', create: false } }],
];

test('helm lint passes', async () => {
  const out = await exec(HELM, ['lint', '--strict', CHART]);
  assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('helm template renders exactly what scripts/deploy/manifests.ts does, for every value', async (t) => {
  for (const [name, values] of CASES) {
    await t.test(name, async () => {
      const rendered = byKey(docs(await helmTemplate(values)));
      const v = merged(DEFAULTS, values);
      const expected = byKey([...manifests(v), ...cleanupHook(v)]);
      assert.deepEqual([...rendered.keys()].sort(), [...expected.keys()].sort());
      for (const [k, obj] of expected) assert.deepEqual(rendered.get(k), obj, k);
    });
  }
});

test('values the chart cannot run with fail `helm template` (and install, upgrade) with one line naming the value', async () => {
  // values.schema.json, generated from scripts/deploy/ (schema.ts).
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ criSocket: 'docker' }, /at '\/criSocket': '[^']*' does not match pattern/],
    [{ backend: 'fenty' }, /at '\/backend': value must be one of 'auto', 'fentry', 'kprobe', 'tracepoint'/],
    [{ logFormat: 'jsno' }, /at '\/logFormat': value must be one of 'auto', 'json', 'text'/],
    [{ metricsPort: 70000 }, /at '\/metricsPort': maximum: got 70,000, want 65,535/],
    [{ kernelGraceSeconds: 0 }, /at '\/kernelGraceSeconds': minimum: got 0, want 1/],
    [{ criSockett: '/run/x.sock' }, /additional properties 'criSockett' not allowed/],
    [{ image: { pullPolicy: 'Sometimes' } }, /at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/],
    [{ extraArgs: ['max-traps=5'] }, /at '\/extraArgs\/0': '[^']*' does not match pattern '\^--'/],
    [{ namespace: { name: 'Kive_System' } }, /at '\/namespace\/name'/],
  ];
  for (const [values, message] of cases) await assert.rejects(helmTemplate(values as Partial<Values>), message, JSON.stringify(values));
  // Without the schema (helm --skip-schema-validation), the template's own check still names the accepted values.
  await assert.rejects(helmTemplate({ criSocket: 'docker' }, ['--skip-schema-validation']), /criSocket: auto, containerd, k3s, crio or an absolute path, got "docker"/);
});

test('the kustomize base is the chart\'s default render, CRDs included', async () => {
  const kustomize = byKey(docs(await exec(KUBECTL, ['kustomize', join(repo, 'deploy/kustomize')])));
  // The pre-delete hook is the chart's alone (kustomize has no hooks: docs/operator.md).
  const chart = byKey(docs(await helmTemplate({}, ['--include-crds', '--no-hooks'])));
  assert.deepEqual([...kustomize.keys()].sort(), [...chart.keys()].sort());
  for (const [k, obj] of chart) assert.deepEqual(kustomize.get(k), obj, k);
  assert.equal([...chart.values()].filter((o) => o.kind === 'CustomResourceDefinition').length, CRD_FILES.length);
});

test('the API server accepts every render (server-side dry run, strict field validation)', async (t) => {
  const kube = (args: string[], stdin?: string) => exec(KUBECTL, ['--kubeconfig', cp.kubeconfigPath, ...args], stdin);
  // The CRDs for real, and the namespaces, so the namespaced objects have somewhere to be.
  for (const { file } of CRD_FILES) await kube(['apply', '--server-side', '-f', join(repo, 'deploy/crds', file)]);
  for (const ns of new Set(CASES.map(([, v]) => (v.namespace ?? DEFAULTS.namespace).name))) await kube(['create', 'namespace', ns]);
  for (const [name, values] of CASES) {
    await t.test(name, async () => {
      const out = await kube(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], await helmTemplate(values));
      assert.match(out, /daemonset\.apps\/kive-operator (created|configured|unchanged) \(server dry run\)/, out);
    });
  }
  // deploy/operator.yaml, what `kubectl apply -f` users get.
  const out = await kube(['apply', '--dry-run=server', '--validate=strict', '-f', join(repo, 'deploy/operator.yaml')]);
  assert.match(out, /daemonset\.apps\/kive-operator .*\(server dry run\)/);
});

test('helm install, helm upgrade with a changed value, helm uninstall', async () => {
  const cfg = ['--kubeconfig', cp.kubeconfigPath];
  const helm = (args: string[]) => exec(HELM, [...args, ...cfg, '--namespace', 'default']);
  const ds = async () => JSON.parse(await exec(KUBECTL, [...cfg, 'get', 'daemonset', 'kive-operator', '-n', 'kive-helm', '-o', 'json']));
  await helm(['install', 'kive', CHART, '--set', 'namespace.name=kive-helm']);
  const ns = JSON.parse(await exec(KUBECTL, [...cfg, 'get', 'namespace', 'kive-helm', '-o', 'json']));
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  assert.ok((await ds()).spec.template.spec.containers[0].args.includes('--log-format=json'));
  await helm(['upgrade', 'kive', CHART, '--reuse-values', '--set', 'logFormat=text']);
  const upgraded = await ds();
  assert.ok(upgraded.spec.template.spec.containers[0].args.includes('--log-format=text'));
  assert.equal(upgraded.metadata.generation, 2);
  // --no-hooks: without kube-controller-manager the pre-delete hook's Job never runs (the
  // e2e suite runs it on a real cluster); no --wait: nor does the namespace deletion finish.
  await helm(['uninstall', 'kive', '--no-hooks']);
  // Cluster-scoped objects are gone; the namespace (and all in it) is being deleted. There
  // is no kube-controller-manager here to finish that deletion.
  await assert.rejects(exec(KUBECTL, [...cfg, 'get', 'clusterrole', 'kive-operator']), /NotFound/);
  const gone = await exec(KUBECTL, [...cfg, 'get', 'namespace', 'kive-helm', '-o', 'json', '--ignore-not-found']);
  assert.ok(gone === '' || JSON.parse(gone).metadata.deletionTimestamp, gone);
});
