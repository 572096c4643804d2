// The end-to-end suite on a real single-node cluster (`make e2e`: the cluster of
// test/e2e/cluster.sh, up for these tests). One file, so the tests share one helm install
// and run in this order:
//
// 1. The design document's user story: install the chart with the locally built image, run
//    the sample pod (nginx-pod in default, label security-level: high, address
//    192.168.0.3), apply the document's sample KivePolicy unchanged, wait until its trap
//    /secret.txt is armed, `kubectl exec nginx-pod -- cat /secret.txt`, and find the
//    KiveAlert on the operator's stdout naming the pod, container, node and process.
//    The sample's callback (my-callback.com) cannot be pointed at a receiver without
//    changing the sample, so a second policy on nginx-pod posts its alerts to a receiver
//    running as a pod of the cluster (Node.js of the Kive image, a one-file server from a
//    ConfigMap), and the test reads the POST there.
// The cluster's ports closed to the outside (e2e-network.ts).
// 2-4. Matching and pod deletion (e2e-matching.ts); 5. operator restart (e2e-restart.ts);
// a Secret volume updated (e2e-secret.ts); 7. the node's kernel id changes (e2e-kernel.ts);
// 6. helm upgrade and uninstall (e2e-helm.ts), last.
//
// nginx-pod is created before the chart so that it is the first pod of the node and gets
// 192.168.0.3 (the operator's pod takes the next address); the policy names that address.
// When the cluster is not there the tests fail (they are never skipped).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { registerHelmTests } from './e2e-helm.ts';
import { registerKernelTests } from './e2e-kernel.ts';
import { registerMatchingTests } from './e2e-matching.ts';
import { registerNetworkTests } from './e2e-network.ts';
import { registerRestartTests } from './e2e-restart.ts';
import { registerSecretTests } from './e2e-secret.ts';
import {
  apply, exec, getJson, HELM, KIVE_IMAGE, KUBECONFIG, kubectl, NODE, NS, operatorAlerts, operatorPod, podExec, policy,
  receiverPosts, repo, requireCluster, until, VERSION, waitAlert, waitArmed, waitRunning, work,
} from './helpers.ts';

const SAMPLE = join(repo, 'examples/design-sample-policy.yaml');

// The callback receiver: prints one JSON line per request (method, path, body) on stdout.
const RECEIVER = `import { createServer } from 'node:http';
createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    console.log(JSON.stringify({ method: req.method, url: req.url, type: req.headers['content-type'], body }));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
}).listen(8080, () => console.log('listening on 8080'));
`;

test('user story: a trap in nginx-pod alerts with pod, container, node and process, on stdout and to a callback', { timeout: 600_000 }, async (t) => {
  requireCluster();
  const t0 = Date.now();
  const step = (s: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`);

  // The sample pod: busybox-static based, never pulled.
  await apply({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'nginx-pod', namespace: 'default', labels: { 'security-level': 'high' } },
    spec: {
      terminationGracePeriodSeconds: 1, dnsPolicy: 'Default',
      containers: [{ name: 'nginx', image: 'kive.e2e/busybox:1', imagePullPolicy: 'Never', command: ['/bin/sleep', '100000'] }],
    },
  });
  const ip = (await waitRunning('nginx-pod')).status.podIP;
  assert.equal(ip, '192.168.0.3', 'the first pod of the node gets the sample policy\'s address');
  step(`nginx-pod running at ${ip}`);

  // The chart, with the image `make image` built and the cluster imported (kive:<version>).
  const values = join(work, 'values.yaml');
  writeFileSync(values, `image:\n  repository: kive\n  tag: "${VERSION}"\n  pullPolicy: Never\ncriSocket: /run/kive-e2e/containerd.sock\nlogFormat: json\n`);
  await exec(HELM, ['install', 'kive', join(repo, 'deploy/helm/kive'), '-f', values, '--wait', '--timeout', '240s'], undefined, 300_000);
  await kubectl(['-n', NS, 'rollout', 'status', 'daemonset/kive-operator', '--timeout=240s']);
  step('helm install done; operator ready');

  // The callback receiver, a pod of the cluster (after the operator: nginx-pod keeps .3).
  await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kive-e2e-receiver', namespace: 'default' }, data: { 'receiver.mjs': RECEIVER } });
  await apply({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'kive-e2e-receiver', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 1, dnsPolicy: 'Default',
      containers: [{
        name: 'receiver', image: KIVE_IMAGE, imagePullPolicy: 'Never',
        command: ['/usr/local/bin/node', '/receiver/receiver.mjs'],
        volumeMounts: [{ name: 'code', mountPath: '/receiver', readOnly: true }],
      }],
      volumes: [{ name: 'code', configMap: { name: 'kive-e2e-receiver' } }],
    },
  });
  const receiverIp = (await waitRunning('kive-e2e-receiver')).status.podIP;
  await until('the receiver listening', 60_000, async () =>
    (await kubectl(['-n', 'default', 'logs', 'kive-e2e-receiver'])).includes('listening on 8080') ? true : undefined);
  step(`receiver running at ${receiverIp}`);

  // The design document's sample policy, unchanged, and the callback policy.
  await kubectl(['apply', '-f', SAMPLE]);
  await apply(policy('kive-e2e-callback', [{
    path: '/callback.txt', create: true, mode: 444, callback: `http://${receiverIp}:8080/alerts`,
    matchAny: [{ pod: 'nginx-pod', namespace: 'default' }], metadata: { check: 'callback' },
  }]));
  await waitArmed('kive-sample-policy', 1);
  await waitArmed('kive-e2e-callback', 1);
  step('traps armed');

  await podExec('nginx-pod', undefined, 'cat', '/secret.txt');
  await podExec('nginx-pod', undefined, 'cat', '/callback.txt');
  step('cat /secret.txt and /callback.txt done');

  const operator = await operatorPod();
  const alert = await waitAlert('a KiveAlert of the sample policy on the operator\'s stdout', 'kive-sample-policy', (a) => a.pod?.name === 'nginx-pod');
  step('alert found');
  // And it was the operator's stdout: the kubelet's CRI log file tags each line with its stream.
  const logDir = join(dirname(KUBECONFIG), 'pod-logs');
  const podDir = readdirSync(logDir).find((d) => d.startsWith(`${NS}_${operator.replace('pod/', '')}_`));
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
  const pod = await getJson(['-n', 'default', 'get', 'pod', 'nginx-pod']);
  assert.equal(alert.pod.container.id, pod.status.containerStatuses[0].containerID); // containerd://<id>
  assert.equal(alert.node.name, NODE);
  assert.equal(alert.process.binary, '/bin/busybox'); // cat is busybox's applet
  assert.equal(alert.process.comm, 'cat');
  assert.match(alert.process.arguments, /\/secret\.txt/);
  assert.ok(alert.process.pid > 0);
  assert.equal(alert['custom-metadata'].severity, 'critical');

  // The callback: POSTed as JSON to the receiver pod, the same alert as on stdout.
  const posted = await until('the callback alert at the receiver pod', 60_000, async () => {
    const p = (await receiverPosts('kive-e2e-callback')).find((x) => x.request.url === '/alerts');
    return p === undefined ? undefined : { r: p.request, a: p.alert };
  });
  step('callback alert received by the receiver pod');
  assert.match(posted.r.type ?? '', /^application\/json/);
  assert.equal(posted.a['kive-alert-version'], 'v1');
  assert.equal(posted.a.metadata.path, '/callback.txt');
  assert.equal(posted.a.pod.name, 'nginx-pod');
  assert.equal(posted.a.pod.container.name, 'nginx');
  assert.equal(posted.a.node.name, NODE);
  assert.equal(posted.a.process.comm, 'cat');
  assert.equal(posted.a['custom-metadata'].check, 'callback');
  const onStdout = (await operatorAlerts()).find((a) => a['alert-id'] === posted.a['alert-id']);
  assert.ok(onStdout, 'the callback alert is also on the operator\'s stdout');
});

registerNetworkTests();
registerMatchingTests();
registerRestartTests();
registerSecretTests();
registerKernelTests();
registerHelmTests();
