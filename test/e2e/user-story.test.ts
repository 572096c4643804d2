// The design document's user story on a real single-node cluster (`make e2e`: the cluster
// of test/e2e/cluster.sh, up for this test): install the chart with the locally built
// image, run the sample pod (nginx-pod in default, label security-level: high, address
// 192.168.0.3), apply the document's sample KivePolicy unchanged, wait until its trap
// /secret.txt is armed, `kubectl exec nginx-pod -- cat /secret.txt`, and find the KiveAlert
// on the operator's stdout naming the pod, container, node and process.
//
// The pod is created before the chart so that it is the first pod of the node and gets
// 192.168.0.3 (the operator's pod takes the next address); the policy names that address.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const KUBECONFIG = process.env.KIVE_E2E_KUBECONFIG ?? join(repo, '.cluster/e2e/kubeconfig');
const KUBECTL = join(process.env.KIVE_K8S_BIN_DIR ?? '', 'kubectl');
const HELM = process.env.KIVE_HELM ?? '';
const VERSION = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;
const NODE = 'kive-e2e-node';
const POLICY = join(repo, 'examples/design-sample-policy.yaml');

const unavailable = !existsSync(KUBECONFIG) ? `${KUBECONFIG} is missing: run \`make e2e\` (or \`make e2e-up\`)`
  : !existsSync(KUBECTL) ? 'KIVE_K8S_BIN_DIR has no kubectl' : !existsSync(HELM) ? 'KIVE_HELM is not a helm binary' : undefined;

const work = mkdtempSync(join(tmpdir(), 'kive-e2e-'));
after(() => rmSync(work, { recursive: true, force: true }));

function exec(bin: string, args: string[], stdin?: string, timeout = 120_000): Promise<string> {
  return new Promise((ok, fail) => {
    const env = { ...process.env, KUBECONFIG, HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_DATA_HOME: join(work, 'helm/data') };
    const child = execFile(bin, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20, env }, (err, stdout, stderr) =>
      err ? fail(new Error(`${bin.split('/').pop()} ${args.join(' ')}: ${stderr || err.message}`)) : ok(stdout));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
const kubectl = (args: string[], stdin?: string) => exec(KUBECTL, args, stdin);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls FN until it returns a value other than undefined; fails with the last state after LIMIT ms. */
async function until<T>(what: string, limitMs: number, fn: () => Promise<T | undefined>): Promise<T> {
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
    await sleep(1000);
  }
}

test('user story: a trap in nginx-pod alerts with pod, container, node and process', { skip: unavailable, timeout: 600_000 }, async (t) => {
  const t0 = Date.now();
  const step = (s: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`);

  // The sample pod: busybox-static based, never pulled.
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'nginx-pod', namespace: 'default', labels: { 'security-level': 'high' } },
    spec: {
      terminationGracePeriodSeconds: 1, dnsPolicy: 'Default',
      containers: [{ name: 'nginx', image: 'kive.e2e/busybox:1', imagePullPolicy: 'Never', command: ['/bin/sleep', '100000'] }],
    },
  }));
  const ip = await until('nginx-pod Running', 120_000, async () => {
    const pod = JSON.parse(await kubectl(['-n', 'default', 'get', 'pod', 'nginx-pod', '-o', 'json']));
    return pod.status?.phase === 'Running' && pod.status.podIP ? pod.status.podIP as string : undefined;
  });
  assert.equal(ip, '192.168.0.3', 'the first pod of the node gets the sample policy\'s address');
  step(`nginx-pod running at ${ip}`);

  // The chart, with the image `make image` built and the cluster imported (kive:<version>).
  const values = join(work, 'values.yaml');
  writeFileSync(values, `image:\n  repository: kive\n  tag: "${VERSION}"\n  pullPolicy: Never\ncriSocket: /run/kive-e2e/containerd.sock\nlogFormat: json\n`);
  await exec(HELM, ['install', 'kive', join(repo, 'deploy/helm/kive'), '-f', values, '--wait', '--timeout', '240s'], undefined, 300_000);
  await kubectl(['-n', 'kivebpf-system', 'rollout', 'status', 'daemonset/kive-operator', '--timeout=240s']);
  step('helm install done; operator ready');

  // The design document's sample policy, unchanged.
  await kubectl(['apply', '-f', POLICY]);
  await until('the sample policy\'s trap armed', 120_000, async () => {
    const p = JSON.parse(await kubectl(['-n', 'kivebpf-system', 'get', 'kivepolicy', 'kive-sample-policy', '-o', 'json']));
    return (p.status?.armedTraps ?? 0) >= 1 ? true : undefined;
  });
  step('trap armed');

  await kubectl(['exec', 'nginx-pod', '--', 'cat', '/secret.txt']);
  step('cat /secret.txt done');

  const operator = (await kubectl(['-n', 'kivebpf-system', 'get', 'pods', '-o', 'name'])).trim().split('\n')[0] ?? '';
  const alert = await until('a KiveAlert in the operator\'s stdout', 60_000, async () => {
    // --all-containers off: one container; stdout and stderr are merged in logs, so pick JSON lines that are alerts.
    const logs = await kubectl(['-n', 'kivebpf-system', 'logs', operator]);
    for (const line of logs.split('\n')) {
      if (!line.startsWith('{')) continue;
      const o = JSON.parse(line);
      if (o['kive-alert-version'] === 'v1' && o.pod?.name === 'nginx-pod') return o;
    }
    return undefined;
  });
  step('alert found');
  // And it was the operator's stdout: the kubelet's CRI log file tags each line with its stream.
  const logDir = join(dirname(KUBECONFIG), 'pod-logs');
  const podDir = readdirSync(logDir).find((d) => d.startsWith(`kivebpf-system_${operator.replace('pod/', '')}_`));
  assert.ok(podDir, `no log directory of ${operator} in ${logDir}`);
  const raw = readdirSync(join(logDir, podDir, 'operator')).map((f) => readFileSync(join(logDir, podDir, 'operator', f), 'utf8')).join('');
  const rawLine = raw.split('\n').find((l) => l.includes(`"alert-id":"${alert['alert-id']}"`));
  assert.match(rawLine ?? '', /^\S+ stdout [FP] \{/, 'the alert is on stdout');
  t.diagnostic(JSON.stringify(alert));
  assert.equal(alert['kive-policy-name'], 'kive-sample-policy');
  assert.equal(alert.metadata.path, '/secret.txt');
  assert.equal(alert.pod.name, 'nginx-pod');
  assert.equal(alert.pod.namespace, 'default');
  assert.equal(alert.pod.container.name, 'nginx');
  const pod = JSON.parse(await kubectl(['-n', 'default', 'get', 'pod', 'nginx-pod', '-o', 'json']));
  assert.equal(alert.pod.container.id, pod.status.containerStatuses[0].containerID); // containerd://<id>
  assert.equal(alert.node.name, NODE);
  assert.equal(alert.process.binary, '/bin/busybox'); // cat is busybox's applet
  assert.equal(alert.process.comm, 'cat');
  assert.match(alert.process.arguments, /\/secret\.txt/);
  assert.ok(alert.process.pid > 0);
  assert.equal(alert['custom-metadata'].severity, 'critical');
});
