// Who accessed the file, and what a trap excludes, on a real API server, real containers
// and the real kernel: an alert names the accessing process's own pod and container
// (`accessor`) next to the file's (`pod`), or says it was a host process; a trap's
// `exclude` (a host binary, an accessor container, the planting window after Kive
// created the file) raises no alert and each such access is counted in
// kive_alerts_excluded_total. docs/alerts.md, "accessor" and "Exclusions".
//
// Runs as root (containers, eBPF). The steps share one control plane, one containerd
// and one operator, and run in order.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { containersUnavailable, type TestContainer } from '../helpers/containers.ts';
import { catInContainer, NS, OperatorEnv, until } from '../helpers/operator-env.ts';
import { startOperator, type OperatorProcess } from '../helpers/operator.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

const run = promisify(execFile);
let env: OperatorEnv;
let op: OperatorProcess;
let c: TestContainer;
let metricsBase: string;
// The host's shell, which holds the file open while it sleeps: alive when Kive reads its /proc/<pid>/exe.
const HOST_SHELL = realpathSync('/bin/sh');
const hostRead = (path: string) => run(HOST_SHELL, ['-c', `exec 3< ${path}; sleep 1`]);

async function excludedCount(policy: string, reason: string): Promise<number> {
  const samples = parsePrometheus(await (await fetch(`${metricsBase}/metrics`)).text());
  return sampleValue(samples, 'kive_alerts_excluded_total', { policy, reason }) ?? 0;
}

describe('kive operator: the accessor in alerts, and exclusions', { skip: containersUnavailable(), concurrency: false }, () => {
  before(async () => {
    env = await OperatorEnv.start();
    c = await env.containerd.runCri();
    await env.createPod('web-1', c, { app: 'web' });
    op = startOperator('op-acc', env.operatorArgs());
    await op.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    metricsBase = `http://${(await op.waitForLog((l) => l.msg === 'metrics endpoint listening', 10_000)).address}`;
    const trap = (path: string, exclude?: object) => ({ path, create: true, matchAny: [{ matchLabels: { app: 'web' } }], ...(exclude ? { exclude } : {}) });
    await env.post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, env.policy('plain', [trap('/plain.txt')]));
    await env.post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, env.policy('by-binary', [trap('/by-binary.txt', { binaries: [HOST_SHELL] })]));
    await env.post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, env.policy('by-container', [trap('/by-container.txt', { containers: ['app'] })]));
    await env.post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, env.policy('planting', [trap('/planting.txt', { plantingWindowSeconds: 600 })]));
    for (const p of ['plain', 'by-binary', 'by-container', 'planting']) {
      await until(`KiveData of ${p}`, async () => (await env.kiveData(`kivebpf.san7o.github.io/policy=${p}`)).length === 1);
    }
  });

  after(async () => {
    await op?.kill('SIGKILL');
    await c?.stop();
    await env?.stop();
  });

  test("a read inside the container names its pod and container; a host read through /proc/<pid>/root says host, the pod stays the file's", async () => {
    const inside = await until('an alert for cat run in the container', async () => {
      await catInContainer(env.containerd, c, '/plain.txt');
      return op.alerts.find((a) => a['kive-policy-name'] === 'plain' && a.accessor?.host === false);
    });
    assertKiveAlertV1(inside);
    assert.deepEqual(inside.accessor.pod, { name: 'web-1', namespace: 'default' });
    assert.deepEqual(inside.accessor.container, { id: `containerd://${c.id}`, name: 'app' });
    assert.match(inside.accessor['cgroup-id'], /^\d+$/);
    assert.deepEqual(inside.pod, { name: 'web-1', namespace: 'default', container: { id: `containerd://${c.id}`, name: 'app' } });

    const fromHost = await until('an alert for a host process reading through /proc/<pid>/root', async () => {
      await hostRead(`/proc/${c.pid}/root/plain.txt`);
      return op.alerts.find((a) => a['kive-policy-name'] === 'plain' && a.accessor?.host === true);
    });
    assertKiveAlertV1(fromHost);
    assert.equal(fromHost.pod.name, 'web-1', 'the file is still web-1\'s');
    assert.equal(fromHost.accessor.pod, undefined);
    assert.notEqual(fromHost.accessor['cgroup-id'], inside.accessor['cgroup-id']);
  });

  test('exclude.binaries: the host binary is counted, not alerted; the same file read inside the container is alerted', async () => {
    await until('an excluded host read', async () => {
      await hostRead(`/proc/${c.pid}/root/by-binary.txt`);
      return (await excludedCount('by-binary', 'binary')) >= 1;
    });
    const inside = await until('an alert for cat in the container', async () => {
      await catInContainer(env.containerd, c, '/by-binary.txt');
      return op.alerts.find((a) => a['kive-policy-name'] === 'by-binary');
    });
    assert.equal(inside.accessor.host, false, 'only the host process is excluded');
    assert.equal(op.alerts.filter((a) => a['kive-policy-name'] === 'by-binary' && a.accessor?.host === true).length, 0);
  });

  test('exclude.containers: a process in container app is counted; a host process is alerted', async () => {
    await until('an excluded read in the container', async () => {
      await catInContainer(env.containerd, c, '/by-container.txt');
      return (await excludedCount('by-container', 'container')) >= 1;
    });
    const fromHost = await until('an alert for the host read', async () => {
      await hostRead(`/proc/${c.pid}/root/by-container.txt`);
      return op.alerts.find((a) => a['kive-policy-name'] === 'by-container');
    });
    assert.equal(fromHost.accessor.host, true);
    assert.equal(op.alerts.filter((a) => a['kive-policy-name'] === 'by-container' && a.accessor?.host === false).length, 0);
  });

  test('exclude.plantingWindowSeconds: within the window after Kive created the file, reads are counted, not alerted', async () => {
    const [data] = await env.kiveData('kivebpf.san7o.github.io/policy=planting');
    assert.ok(data?.spec.plantedAt !== undefined && Date.now() - Date.parse(data.spec.plantedAt) < 600_000, `plantedAt ${data?.spec.plantedAt}`);
    await until('excluded reads in the window', async () => {
      await catInContainer(env.containerd, c, '/planting.txt');
      await hostRead(`/proc/${c.pid}/root/planting.txt`);
      return (await excludedCount('planting', 'planting-window')) >= 2;
    });
    assert.equal(op.alerts.filter((a) => a['kive-policy-name'] === 'planting').length, 0);
  });
});
