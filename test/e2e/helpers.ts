// Shared by the end-to-end tests (test/e2e/): kubectl and helm against the cluster of
// cluster.sh, bounded polling, and reading alerts from the operator's stdout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const KUBECONFIG = process.env.KIVE_E2E_KUBECONFIG ?? join(repo, '.cluster/e2e/kubeconfig');
export const KUBECTL = join(process.env.KIVE_K8S_BIN_DIR ?? '', 'kubectl');
export const HELM = process.env.KIVE_HELM ?? '';
export const VERSION = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;
export const NODE = 'kive-e2e-node';
export const NS = 'kivebpf-system';
export const BUSYBOX = 'kive.e2e/busybox:1';
export const KIVE_IMAGE = `kive:${VERSION}`;
export const API_GROUP = 'kivebpf.san7o.github.io';

/** Why the cluster cannot be used, or undefined. The tests fail with it (never skip). */
export const unavailable = !existsSync(KUBECONFIG) ? `${KUBECONFIG} is missing: run \`make e2e\` (or \`make e2e-up\`)`
  : !existsSync(KUBECTL) ? 'KIVE_K8S_BIN_DIR has no kubectl (run the tests through `make e2e`)'
  : !existsSync(HELM) ? 'KIVE_HELM is not a helm binary (run the tests through `make e2e`)' : undefined;

export function requireCluster(): void {
  assert.equal(unavailable, undefined, `the e2e cluster is not available: ${unavailable}`);
}

export const work = mkdtempSync(join(tmpdir(), 'kive-e2e-'));
after(() => rmSync(work, { recursive: true, force: true }));

export function exec(bin: string, args: string[], stdin?: string, timeout = 120_000): Promise<string> {
  return new Promise((ok, fail) => {
    const env = { ...process.env, KUBECONFIG, HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_DATA_HOME: join(work, 'helm/data') };
    const child = execFile(bin, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20, env }, (err, stdout, stderr) =>
      err ? fail(new Error(`${bin.split('/').pop()} ${args.join(' ')}: ${stderr || err.message}`)) : ok(stdout));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
export const kubectl = (args: string[], stdin?: string) => exec(KUBECTL, args, stdin);
export const helm = (args: string[]) => exec(HELM, args, undefined, 300_000);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const apply = (obj: object) => kubectl(['apply', '-f', '-'], JSON.stringify(obj));
export const getJson = async (args: string[]) => JSON.parse(await kubectl([...args, '-o', 'json']));

/** Polls FN until it returns a value other than undefined; fails with the last state after LIMIT ms. */
export async function until<T>(what: string, limitMs: number, fn: () => Promise<T | undefined>, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${limitMs / 1000}s${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** A busybox pod in default (never pulled), running COMMAND; resolves with its object once Running. */
export async function runPod(name: string, opts: { labels?: Record<string, string>; containers?: string[]; command?: string[]; volumes?: object[]; mounts?: object[] } = {}): Promise<any> {
  const command = opts.command ?? ['/bin/sleep', '100000'];
  await apply({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', labels: opts.labels ?? {} },
    spec: {
      terminationGracePeriodSeconds: 1, dnsPolicy: 'Default',
      containers: (opts.containers ?? ['main']).map((c) => ({ name: c, image: BUSYBOX, imagePullPolicy: 'Never', command, volumeMounts: opts.mounts ?? [] })),
      volumes: opts.volumes ?? [],
    },
  });
  return waitRunning(name);
}

export function waitRunning(name: string, namespace = 'default'): Promise<any> {
  return until(`pod ${namespace}/${name} Running`, 120_000, async () => {
    const pod = await getJson(['-n', namespace, 'get', 'pod', name]);
    const ready = (pod.status?.containerStatuses ?? []).every((c: any) => c.ready);
    return pod.status?.phase === 'Running' && pod.status.podIP && ready ? pod : undefined;
  });
}

export async function deletePods(...names: string[]): Promise<void> {
  if (names.length > 0) await kubectl(['-n', 'default', 'delete', 'pod', ...names, '--ignore-not-found', '--wait=true', '--timeout=120s']);
}

/** A KivePolicy in the operator's namespace. */
export function policy(name: string, traps: object[]): object {
  return { apiVersion: `${API_GROUP}/v1`, kind: 'KivePolicy', metadata: { name, namespace: NS }, spec: { alertVersion: 'v1', traps } };
}

export const getPolicy = (name: string) => getJson(['-n', NS, 'get', 'kivepolicy', name]);

/** Waits until the policy reports at least N armed traps; returns its object. */
export function waitArmed(name: string, n: number, limitMs = 120_000): Promise<any> {
  return until(`policy ${name}: ${n} armed trap(s)`, limitMs, async () => {
    const p = await getPolicy(name);
    return (p.status?.armedTraps ?? 0) >= n ? p : undefined;
  });
}

export async function kiveData(selector: string): Promise<any[]> {
  return (await getJson(['-n', NS, 'get', 'kivedata', '-l', selector])).items;
}

export async function deletePolicies(...names: string[]): Promise<void> {
  if (names.length > 0) await kubectl(['-n', NS, 'delete', 'kivepolicy', ...names, '--ignore-not-found', '--wait=true', '--timeout=120s']);
}

/** The name (pod/...) of the operator pod that runs now (one node: one pod, not being deleted). */
export async function operatorPod(): Promise<string> {
  return until('a running operator pod', 240_000, async () => {
    const pods = (await getJson(['-n', NS, 'get', 'pods'])).items as any[];
    const p = pods.find((x) => !x.metadata.deletionTimestamp && x.status?.phase === 'Running' && (x.status.containerStatuses ?? []).every((c: any) => c.ready));
    return p ? `pod/${p.metadata.name}` : undefined;
  });
}

/** The KiveAlerts on the current operator pod's output (stdout and stderr are merged in logs: JSON alert lines only). */
export async function operatorAlerts(pod?: string): Promise<any[]> {
  const logs = await kubectl(['-n', NS, 'logs', pod ?? await operatorPod()]);
  const out: any[] = [];
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line);
      if (o['kive-alert-version'] === 'v1') out.push(o);
    } catch { /* a text log line */ }
  }
  return out;
}

/**
 * The POSTs of alerts of POLICY the story's callback receiver pod (kive-e2e-receiver)
 * printed, in order: the request (method, url, type) and the alert it carried.
 */
export async function receiverPosts(policyName: string): Promise<Array<{ request: any; alert: any }>> {
  const out: Array<{ request: any; alert: any }> = [];
  for (const line of (await kubectl(['-n', 'default', 'logs', 'kive-e2e-receiver'])).split('\n')) {
    if (!line.startsWith('{')) continue;
    const request = JSON.parse(line);
    if (request.method !== 'POST') continue;
    const alert = JSON.parse(request.body);
    if (alert['kive-policy-name'] === policyName) out.push({ request, alert });
  }
  return out;
}

/** The alerts of those POSTs. */
export const receiverAlerts = async (policyName: string): Promise<any[]> => (await receiverPosts(policyName)).map((p) => p.alert);

/** Waits for an alert of POLICY matching PRED on the operator's stdout, running ACCESS before each look when given. */
export function waitAlert(what: string, policyName: string, pred: (a: any) => boolean, access?: () => Promise<unknown>, limitMs = 60_000): Promise<any> {
  return until(what, limitMs, async () => {
    if (access) await access();
    return (await operatorAlerts()).find((a) => a['kive-policy-name'] === policyName && pred(a));
  });
}

export const podExec = (pod: string, container: string | undefined, ...cmd: string[]) =>
  kubectl(['-n', 'default', 'exec', pod, ...(container ? ['-c', container] : []), '--', ...cmd]);
