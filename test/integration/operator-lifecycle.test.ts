// The operator through a pod's and a node's life, on a real API server, real containers
// and the real kernel: a pod in its grace period is still watched, its KiveData go when
// its containers exit; Ready stays True while a rollout starts a second container next
// to an armed one; the report of a node that no longer runs Kive leaves status.nodes.
//
// Runs as root (containers, eBPF). The steps share one control plane, one containerd
// and one operator, and run in order.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyStatus } from '../../src/k8s/apply.ts';
import { KIVE_POLICIES } from '../../src/api/v1/resources.ts';
import { containersUnavailable, type TestContainer } from '../helpers/containers.ts';
import { loadScaled } from '../helpers/load-scale.ts';
import { catInside, NODE, NS, OperatorEnv, until } from '../helpers/operator-env.ts';
import { startOperator, type OperatorProcess } from '../helpers/operator.ts';

let env: OperatorEnv;
let op: OperatorProcess;
const containers: TestContainer[] = [];

const podPath = (name: string) => `/api/v1/namespaces/default/pods/${name}`;

describe('kive operator: grace periods, rollouts and nodes that leave', { skip: containersUnavailable(), concurrency: false }, () => {
  before(async () => {
    env = await OperatorEnv.start();
    op = startOperator('op-lifecycle', env.operatorArgs());
    await op.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    await op.waitForLog((l) => l.msg === 'pod controller leading', 30_000);
  });

  after(async () => {
    await op?.kill('SIGKILL');
    for (const c of containers) await c.stop();
    await env?.stop();
  });

  test('a pod being deleted is watched through its grace period; its KiveData go when its container exits', async () => {
    const c = await env.containerd.runCri();
    containers.push(c);
    await env.createPod('grace-1', c);
    // (/secret.txt in the test image is a symlink to /etc/shadow, for the escape test.)
    await env.createPolicy('grace', [{ path: '/grace-secret.txt', create: true, mode: 440, matchAny: [{ pod: 'grace-1' }] }]);
    const armed = await until('KiveData for grace-1', async () => (await env.kiveData('kivebpf.san7o.github.io/policy=grace'))[0]);

    // kubectl delete pod: the API server sets deletionTimestamp and keeps the pod for its
    // grace period; the kubelet stops the containers meanwhile (here: nobody yet).
    await env.client.request({ method: 'DELETE', path: podPath('grace-1'), query: { gracePeriodSeconds: 30 } });
    const deleting = (await env.client.request({ method: 'GET', path: podPath('grace-1') })) as { metadata: { deletionTimestamp?: string } };
    assert.ok(deleting.metadata.deletionTimestamp, 'the pod is in its grace period');
    // Long enough for the pod event to reach both the discover and the pod-cleanup
    // reconcilers, which deleted the KiveData at once before.
    await new Promise((r) => setTimeout(r, loadScaled(3_000)));
    const still = await env.kiveData('kivebpf.san7o.github.io/policy=grace');
    assert.deepEqual(still.map((d) => d.metadata.name), [armed.metadata.name], 'KiveData kept while the container runs');

    const before = op.alerts.length;
    const alert = await until('an alert for cat inside the pod being deleted', async () => {
      await catInside(c, '/grace-secret.txt');
      return op.alerts.slice(before).find((a) => a['kive-policy-name'] === 'grace' && a.pod?.name === 'grace-1');
    });
    assert.equal(alert.pod.container.id, `containerd://${c.id}`);

    // The kubelet stops the container and says so; the KiveData go (the pod object is still there).
    await c.stop();
    await env.setPodStatus('grace-1', c, { terminated: { exitCode: 137, reason: 'Error' } });
    await until('no KiveData once the container exited', async () => (await env.kiveData('kivebpf.san7o.github.io/policy=grace')).length === 0);
    await env.client.request({ method: 'GET', path: podPath('grace-1') }); // not deleted yet: the KiveData went because the container did
    await env.client.request({ method: 'DELETE', path: podPath('grace-1'), query: { gracePeriodSeconds: 0 } });
  });

  test('during a rollout Ready stays True/Armed, counting the container that is not running yet', async () => {
    const c1 = await env.containerd.runCri();
    containers.push(c1);
    await env.createPod('roll-1', c1, { app: 'roll' });
    await env.createPod('roll-2', undefined, { app: 'roll' }); // scheduled, container not started
    await env.createPolicy('rollout', [{ path: '/roll.txt', create: true, matchAny: [{ matchLabels: { app: 'roll' } }] }]);
    const first = await until('status with one armed and one pending container', async () => {
      const p = await env.getPolicy('rollout');
      return p.status?.armedTraps === 1 && p.status.pendingContainers === 1 ? p.status : undefined;
    });
    const ready = first.conditions?.find((x) => x.type === 'Ready');
    assert.deepEqual([ready?.status, ready?.reason], ['True', 'Armed']);
    assert.match(ready!.message, /1 not running yet/);
    assert.equal(first.matchedContainers, 2);

    // The second replica starts: still Ready, no transition, nothing pending.
    const c2 = await env.containerd.runCri();
    containers.push(c2);
    await env.setPodContainer('roll-2', c2);
    const second = await until('both armed', async () => {
      const p = await env.getPolicy('rollout');
      return p.status?.armedTraps === 2 && p.status.pendingContainers === 0 ? p.status : undefined;
    });
    const ready2 = second.conditions?.find((x) => x.type === 'Ready');
    assert.deepEqual([ready2?.status, ready2?.reason, ready2?.lastTransitionTime], ['True', 'Armed', ready?.lastTransitionTime]);
  });

  test('the report of a node that no longer runs Kive is removed from status.nodes; the live node\'s stays', async () => {
    // What an operator that ran once on another node left: its report, under its own
    // field manager, naming a kernel whose loader Lease never renews.
    const policy = await env.getPolicy('rollout');
    await applyStatus(
      env.client,
      KIVE_POLICIES,
      { apiVersion: policy.apiVersion, kind: 'KivePolicy', metadata: { name: 'rollout', namespace: NS }, status: { nodes: [{ node: 'gone-node', kernelId: 'gone-kernel', matchedContainers: 3, armedTraps: 3, pendingContainers: 0 }] } },
      { fieldManager: 'kive-discover-gone-node', force: true },
    );
    await until('the report of gone-node is in', async () => (await env.getPolicy('rollout')).status?.nodes?.some((n) => n.node === 'gone-node'));
    // --kernel-grace-ms is 4 s; the collector looks every 2 s.
    const status = await until('gone-node\'s report removed', async () => {
      const p = await env.getPolicy('rollout');
      return p.status?.nodes?.some((n) => n.node === 'gone-node') ? undefined : p.status;
    }, 30_000);
    assert.deepEqual(status?.nodes?.map((n) => [n.node, n.kernelId]), [[NODE, env.kernelId]]);
    const settled = await until('matched count without gone-node', async () => {
      const p = await env.getPolicy('rollout');
      return p.status?.matchedContainers === 2 ? p.status : undefined;
    });
    assert.equal(settled.conditions?.find((x) => x.type === 'Ready')?.reason, 'Armed');
  });
});
