// The chart's lifecycle on the real cluster, last (registered by user-story.test.ts):
// 6. `helm upgrade --reuse-values` with a changed value (logFormat text, a new memory
//    request) rolls the DaemonSet and the new operator pod still alerts; then the
//    documented uninstall (docs/operator.md: delete the KivePolicies while the operator
//    runs, then `helm uninstall`) leaves nothing behind: no KivePolicy held by a
//    finalizer, no KiveData, no Kive Lease, no operator namespace. The user story's pods,
//    ConfigMap and the sample policy are removed here too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apply, deletePods, getJson, helm, kubectl, NS, operatorPod, podExec, policy, repo, requireCluster, runPod, until,
  waitAlert, waitArmed,
} from './helpers.ts';
import { join } from 'node:path';

export function registerHelmTests(): void {
  test('helm upgrade with changed values: the new operator pod alerts', { timeout: 420_000 }, async (t) => {
    requireCluster();
    await runPod('upgrade-pod');
    await apply(policy('kive-e2e-upgrade', [{ path: '/upgrade.txt', create: true, mode: 444, matchAny: [{ pod: 'upgrade-pod', namespace: 'default' }] }]));
    await waitArmed('kive-e2e-upgrade', 1);
    const old = await operatorPod();
    const rev = (await getJson(['-n', NS, 'get', 'daemonset', 'kive-operator'])).metadata.generation as number;
    await helm(['upgrade', 'kive', join(repo, 'deploy/helm/kive'), '--reuse-values', '--set', 'logFormat=text',
      '--set', 'resources.requests.memory=320Mi', '--wait', '--timeout', '240s']);
    await kubectl(['-n', NS, 'rollout', 'status', 'daemonset/kive-operator', '--timeout=240s']);
    const ds = await getJson(['-n', NS, 'get', 'daemonset', 'kive-operator']);
    assert.ok(ds.metadata.generation > rev, 'the upgrade changed the DaemonSet');
    const c = ds.spec.template.spec.containers[0];
    assert.ok(c.args.includes('--log-format=text'), `args: ${c.args.join(' ')}`);
    assert.equal(c.resources.requests.memory, '320Mi');
    const fresh = await until('the upgraded operator pod', 240_000, async () => {
      const p = await operatorPod();
      return p !== old ? p : undefined;
    });
    t.diagnostic(`operator ${old} replaced by ${fresh}`);
    // Alerts stay JSON lines on stdout; the log lines on stderr are text now.
    const alert = await waitAlert('an alert from the upgraded operator', 'kive-e2e-upgrade', (a) => a.pod?.name === 'upgrade-pod',
      () => podExec('upgrade-pod', undefined, 'cat', '/upgrade.txt'), 180_000);
    assert.equal(alert.metadata.path, '/upgrade.txt');
    assert.equal(alert.pod.container.name, 'main');
    const logs = await kubectl(['-n', NS, 'logs', fresh]);
    assert.ok(logs.split('\n').some((l) => l.length > 0 && !l.startsWith('{')), 'text log lines after logFormat=text');
  });

  test('helm uninstall after deleting the policies: no policy held by a finalizer, no KiveData, no Kive Lease', { timeout: 420_000 }, async () => {
    requireCluster();
    // docs/operator.md "Uninstall": the policies first, while the operator runs.
    await kubectl(['delete', 'kivepolicies', '--all', '-A', '--wait=true', '--timeout=120s']);
    assert.deepEqual((await getJson(['get', 'kivepolicies', '-A'])).items, [], 'every KivePolicy is gone (none held by its finalizer)');
    await until('every KiveData deleted', 60_000, async () => ((await getJson(['get', 'kivedata', '-A'])).items.length === 0 ? true : undefined));
    await helm(['uninstall', 'kive', '--wait', '--timeout', '240s']);
    await until(`namespace ${NS} gone`, 180_000, async () =>
      (await kubectl(['get', 'namespace', NS, '--ignore-not-found', '-o', 'name'])).trim() === '' ? true : undefined);
    assert.deepEqual((await getJson(['get', 'kivepolicies', '-A'])).items, []);
    assert.deepEqual((await getJson(['get', 'kivedata', '-A'])).items, []);
    const leases = ((await getJson(['get', 'leases', '-A'])).items as any[]).map((l) => `${l.metadata.namespace}/${l.metadata.name}`);
    // The node's own Lease (kube-node-lease/kive-e2e-node) is the kubelet's, not Kive's.
    assert.deepEqual(leases.filter((n) => n.startsWith(`${NS}/`) || /\/kive-(loader-|pod-controller)/.test(n)), [], `no Kive Lease left (leases: ${leases.join(', ')})`);
    assert.equal((await helm(['list', '-A', '-q'])).trim(), '', 'no release left');
    for (const kind of ['daemonset', 'clusterrole', 'clusterrolebinding']) {
      const left = ((await getJson(['get', kind, '-A'])).items as any[]).map((o) => o.metadata.name).filter((n: string) => /kive/.test(n));
      assert.deepEqual(left, [], `no ${kind} of Kive left`);
    }
    // What the tests made in default.
    await deletePods('nginx-pod', 'kive-e2e-receiver', 'upgrade-pod');
    await kubectl(['-n', 'default', 'delete', 'configmap', 'kive-e2e-receiver', '--ignore-not-found']);
  });
}
