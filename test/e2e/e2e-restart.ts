// The operator restarted (registered in order by user-story.test.ts, after e2e-matching.ts):
// 5. The operator pod deleted: the DaemonSet's new pod takes the loader Lease, restores the
//    kernel map from the KiveData and `cat` in multi-b (left by e2e-matching.ts) alerts
//    again, on the new pod's stdout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deletePods, deletePolicies, getJson, kubectl, NS, operatorAlerts, operatorPod, podExec, requireCluster, waitAlert } from './helpers.ts';

export function registerRestartTests(): void {
  test('operator pod deleted: the DaemonSet\'s new pod restores the map and cat alerts again', { timeout: 300_000 }, async (t) => {
    requireCluster();
    const old = await operatorPod();
    await waitAlert('an alert from multi-b before the restart', 'kive-e2e-multi', (a) => a.pod?.name === 'multi-b' && a.metadata.path === '/trap-one.txt',
      () => podExec('multi-b', undefined, 'cat', '/trap-one.txt'));
    await kubectl(['-n', NS, 'delete', old, '--wait=true', '--timeout=120s']);
    const fresh = await operatorPod();
    assert.notEqual(fresh, old);
    const owner = (await getJson(['-n', NS, 'get', fresh])).metadata.ownerReferences?.[0];
    assert.equal(owner?.kind, 'DaemonSet');
    t.diagnostic(`operator ${old} deleted; ${fresh} running`);
    const alert = await waitAlert('an alert from multi-b on the new operator pod', 'kive-e2e-multi',
      (a) => a.pod?.name === 'multi-b' && a.metadata.path === '/trap-one.txt', () => podExec('multi-b', undefined, 'cat', '/trap-one.txt'), 180_000);
    assert.equal(alert.pod.container.name, 'main');
    assert.ok((await operatorAlerts(fresh)).some((a) => a['alert-id'] === alert['alert-id']), 'the alert is on the new pod\'s stdout');
    const leases = (await getJson(['-n', NS, 'get', 'leases'])).items as any[];
    const loader = leases.find((l) => l.metadata.name.startsWith('kive-loader-'));
    assert.equal(loader?.spec.holderIdentity, fresh.replace('pod/', ''), 'the new pod holds the loader Lease');

    await deletePolicies('kive-e2e-multi');
    await deletePods('multi-b');
  });
}
