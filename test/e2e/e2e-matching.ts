// Matching and pod deletion on the real cluster (registered in order by user-story.test.ts,
// after the user story, with the chart installed):
// 2. containerName regex: in a pod with containers `app` and `helper`, a policy whose regex
//    matches only `app` arms it (one KiveData, for app) and alerts for it, not for helper;
//    a policy whose regex matches neither arms nothing (no KiveData,
//    NoMatchingContainers) and never alerts.
// 3. Two match blocks (a pod name; a label) selecting two pods, and two traps in one
//    policy: each file in each pod alerts, naming the right pod, container and path.
// 4. A pod deleted: its KiveData are gone (bounded wait), the other pod's stay.
// Each test deletes what it created (4 deletes what 3 made).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  API_GROUP, apply, deletePods, deletePolicies, getPolicy, kiveData, operatorAlerts, podExec, policy, requireCluster, runPod,
  sleep, until, waitAlert, waitArmed,
} from './helpers.ts';

const byPolicy = (name: string) => `${API_GROUP}/policy=${name}`;
// A file each container writes at start (not created by Kive): both policies trap it.
const WRITE_AND_SLEEP = ['/bin/sh', '-c', 'echo data > /data.txt && exec /bin/sleep 100000'];

export function registerMatchingTests(): void {
  test('containerName regex: a matching regex arms and alerts for that container only; a non-matching one arms nothing', { timeout: 300_000 }, async () => {
    requireCluster();
    await runPod('regex-pod', { containers: ['app', 'helper'], command: WRITE_AND_SLEEP });
    await apply(policy('kive-e2e-regex-yes', [{ path: '/data.txt', matchAny: [{ pod: 'regex-pod', namespace: 'default', containerName: 'regex: ^ap+$' }] }]));
    await apply(policy('kive-e2e-regex-no', [{ path: '/data.txt', matchAny: [{ pod: 'regex-pod', namespace: 'default', containerName: 'regex: ^(web|sidecar)' }] }]));

    await waitArmed('kive-e2e-regex-yes', 1);
    const yes = await kiveData(byPolicy('kive-e2e-regex-yes'));
    assert.deepEqual(yes.map((d) => d.spec.containerName), ['app'], 'one KiveData, for container app');
    const no = await until('the non-matching policy reports NoMatchingContainers', 60_000, async () => {
      const p = await getPolicy('kive-e2e-regex-no');
      const ready = (p.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      return ready?.reason === 'NoMatchingContainers' ? p : undefined;
    });
    assert.equal(no.status.armedTraps ?? 0, 0);
    assert.equal(no.status.matchedContainers ?? 0, 0);
    assert.deepEqual(await kiveData(byPolicy('kive-e2e-regex-no')), [], 'no KiveData for the non-matching regex');

    // helper first: its read must not alert; then app's must.
    await podExec('regex-pod', 'helper', 'cat', '/data.txt');
    const alert = await waitAlert('an alert for container app', 'kive-e2e-regex-yes', (a) => a.pod?.name === 'regex-pod', () => podExec('regex-pod', 'app', 'cat', '/data.txt'));
    assert.equal(alert.pod.container.name, 'app');
    assert.equal(alert.metadata.path, '/data.txt');
    await sleep(3000); // events are delivered in milliseconds; leave room for a stray one
    const alerts = (await operatorAlerts()).filter((a) => a.pod?.name === 'regex-pod');
    assert.deepEqual(alerts.filter((a) => a['kive-policy-name'] === 'kive-e2e-regex-no'), [], 'no alert from the non-matching policy');
    assert.deepEqual(alerts.filter((a) => a.pod.container.name !== 'app'), [], 'no alert for container helper');
    assert.deepEqual(await kiveData(byPolicy('kive-e2e-regex-no')), []);

    await deletePolicies('kive-e2e-regex-yes', 'kive-e2e-regex-no');
    await deletePods('regex-pod');
  });

  test('two match blocks select two pods, two traps: each file in each pod alerts with its pod', { timeout: 300_000 }, async () => {
    requireCluster();
    await runPod('multi-a');
    await runPod('multi-b', { labels: { 'kive-e2e': 'multi-b' } });
    const match = [{ pod: 'multi-a', namespace: 'default' }, { namespace: 'default', matchLabels: { 'kive-e2e': 'multi-b' } }];
    await apply(policy('kive-e2e-multi', [
      { path: '/trap-one.txt', create: true, mode: 444, matchAny: match, metadata: { trap: 'one' } },
      { path: '/trap-two.txt', create: true, mode: 444, matchAny: match, metadata: { trap: 'two' } },
    ]));
    const p = await waitArmed('kive-e2e-multi', 4);
    assert.equal(p.status.armedTraps, 4);
    const data = await kiveData(byPolicy('kive-e2e-multi'));
    assert.deepEqual(data.map((d) => `${d.spec.podName} ${d.spec.path}`).sort(),
      ['multi-a /trap-one.txt', 'multi-a /trap-two.txt', 'multi-b /trap-one.txt', 'multi-b /trap-two.txt']);

    for (const pod of ['multi-a', 'multi-b']) {
      for (const [trap, path] of [['one', '/trap-one.txt'], ['two', '/trap-two.txt']] as const) {
        const a = await waitAlert(`an alert for ${path} in ${pod}`, 'kive-e2e-multi', (x) => x.pod?.name === pod && x.metadata.path === path,
          () => podExec(pod, undefined, 'cat', path));
        assert.equal(a.pod.namespace, 'default');
        assert.equal(a.pod.container.name, 'main');
        assert.equal(a['custom-metadata'].trap, trap);
        assert.equal(a.process.comm, 'cat');
      }
    }
    // Only those four (pod, path) pairs, and each alert names the pod whose file was read.
    const seen = new Set((await operatorAlerts()).filter((a) => a['kive-policy-name'] === 'kive-e2e-multi').map((a) => `${a.pod.name} ${a.metadata.path}`));
    assert.deepEqual([...seen].sort(), ['multi-a /trap-one.txt', 'multi-a /trap-two.txt', 'multi-b /trap-one.txt', 'multi-b /trap-two.txt']);
  });

  test('a deleted pod: its KiveData go, the other pod\'s stay', { timeout: 300_000 }, async () => {
    requireCluster();
    const data = await kiveData(byPolicy('kive-e2e-multi'));
    const uidA = data.find((d) => d.spec.podName === 'multi-a')?.spec.podUid;
    assert.ok(uidA, 'multi-a has KiveData (previous test)');
    await deletePods('multi-a');
    await until('multi-a\'s KiveData deleted', 60_000, async () =>
      (await kiveData(`${API_GROUP}/pod-uid=${uidA}`)).length === 0 ? true : undefined);
    const left = await kiveData(byPolicy('kive-e2e-multi'));
    assert.deepEqual(left.map((d) => `${d.spec.podName} ${d.spec.path}`).sort(), ['multi-b /trap-one.txt', 'multi-b /trap-two.txt']);
    // The policy and multi-b stay for the restart tests (e2e-restart.ts), which delete them.
  });
}
