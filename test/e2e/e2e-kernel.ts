// A node's kernel id changes (registered in order by user-story.test.ts, before e2e-helm.ts):
// 7. What a reboot does to Kive, short of rebooting the machine that runs the test: the
//    operator pod goes and a new one starts on a kernel with a new boot id. The new id is
//    given with `helm upgrade --set extraArgs={--kernel-id=NEW}` (the boot id itself cannot
//    change without a reboot), and kernelGraceSeconds=20 so the wait is short. Then the new
//    kernel's KiveData are written and its traps alert, and the pod controller, running
//    with the chart's RBAC, deletes everything the old kernel left: its KiveData, its
//    loader Lease, its node report.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  apply, deletePods, deletePolicies, getJson, getPolicy, helm, kiveData, kubectl, NS, operatorPod, podExec, policy, repo,
  requireCluster, runPod, until, waitAlert, waitArmed,
} from './helpers.ts';

const KERNEL_LABEL = 'kivebpf.san7o.github.io/kernel-id';
const leaseNames = async (): Promise<string[]> => ((await getJson(['-n', NS, 'get', 'leases'])).items as any[]).map((l) => l.metadata.name);

export function registerKernelTests(): void {
  test('a node\'s kernel id changes: the new kernel arms and alerts, the old kernel\'s KiveData, Lease and report are collected', { timeout: 420_000 }, async (t) => {
    requireCluster();
    await runPod('kernel-pod');
    await apply(policy('kive-e2e-kernel', [{ path: '/kernel.txt', create: true, mode: 444, matchAny: [{ pod: 'kernel-pod', namespace: 'default' }] }]));
    await waitArmed('kive-e2e-kernel', 1);
    const before = await kiveData(`${KERNEL_LABEL}`);
    const oldKernel = before.find((d) => d.spec.podName === 'kernel-pod')?.spec.kernelId as string;
    assert.ok(oldKernel, 'kernel-pod has a KiveData naming the running kernel');
    assert.ok((await leaseNames()).includes(`kive-loader-${oldKernel}`), 'the running kernel has its loader Lease');
    const old = await operatorPod();

    const newKernel = randomUUID();
    t.diagnostic(`kernel id ${oldKernel} -> ${newKernel}`);
    await helm(['upgrade', 'kive', join(repo, 'deploy/helm/kive'), '--reuse-values', '--set', `extraArgs={--kernel-id=${newKernel}}`,
      '--set', 'kernelGraceSeconds=20', '--wait', '--timeout', '240s']);
    await kubectl(['-n', NS, 'rollout', 'status', 'daemonset/kive-operator', '--timeout=240s']);
    const fresh = await until('the operator pod of the new kernel', 240_000, async () => {
      const p = await operatorPod();
      return p !== old ? p : undefined;
    });

    // The new kernel: its own KiveData, its loader, an alert.
    await until('KiveData of the new kernel for kernel-pod', 120_000, async () =>
      (await kiveData(`${KERNEL_LABEL}=${newKernel}`)).some((d) => d.spec.podName === 'kernel-pod') ? true : undefined);
    const alert = await waitAlert('an alert on the new kernel', 'kive-e2e-kernel', (a) => a.pod?.name === 'kernel-pod',
      () => podExec('kernel-pod', undefined, 'cat', '/kernel.txt'), 120_000);
    assert.equal(alert.metadata['kernel-id'], newKernel);
    const lease = await getJson(['-n', NS, 'get', 'lease', `kive-loader-${newKernel}`]);
    assert.equal(lease.spec.holderIdentity, fresh.replace('pod/', ''));

    // The old kernel: nothing left once its Lease has been silent for the grace (20 s; the
    // collector looks every 10 s).
    const started = Date.now();
    await until('the old kernel\'s KiveData and loader Lease collected', 120_000, async () => {
      const data = await kiveData(`${KERNEL_LABEL}=${oldKernel}`);
      return data.length === 0 && !(await leaseNames()).includes(`kive-loader-${oldKernel}`) ? true : undefined;
    });
    t.diagnostic(`old kernel collected ${((Date.now() - started) / 1000).toFixed(0)} s after the new one alerted`);
    const nodes = ((await getPolicy('kive-e2e-kernel')).status?.nodes ?? []) as any[];
    assert.deepEqual(nodes.map((n) => n.kernelId), [newKernel], 'the node report names the new kernel only');
    // The old kernel's traps were deleted, not the new one's.
    assert.ok((await kiveData(`${KERNEL_LABEL}=${newKernel}`)).some((d) => d.spec.podName === 'kernel-pod'));

    await deletePolicies('kive-e2e-kernel');
    await deletePods('kernel-pod');
  });
}
