// `kive operator` meeting a real API server set up wrongly: an absent namespace, a user
// without permission, bad credentials. Each ends in one line on stderr and exit 2 before
// any controller starts; the same user passes the check once a Role allows it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { checkNamespace } from '../../src/cli/kube.ts';
import { isKiveError } from '../../src/errors.ts';
import { KubeClient } from '../../src/k8s/rest.ts';
import { startControlPlane } from '../helpers/cluster.ts';

const KIVE = fileURLToPath(new URL('../../bin/kive', import.meta.url));
const cp = await startControlPlane();
const admin = new KubeClient(cp.kubeConfig);
const dir = join(cp.kubeconfigPath, '..');

type Kubeconfig = { users: Array<{ name: string; user: Record<string, unknown> }> };
/** The admin kubeconfig with its user changed by `edit`, written next to it. */
function variant(name: string, edit: (user: Record<string, unknown>) => Record<string, unknown>): string {
  const kc = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as Kubeconfig;
  for (const u of kc.users) u.user = edit(u.user);
  const path = join(dir, `kubeconfig-${name}`);
  writeFileSync(path, stringify(kc));
  return path;
}
const NOBODY = 'kive-test-nobody';
const nobodyPath = variant('nobody', (u) => ({ ...u, as: NOBODY }));
const bogusPath = variant('bogus', () => ({ token: 'not-a-valid-token' }));

function operator(kubeconfig: string, namespace: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ['operator', '--kubeconfig', kubeconfig, '--node-name', 'n1', '--namespace', namespace, '--disable-discover', '--disable-loader', '--disable-pod-controller'];
  return new Promise((resolve) => {
    // The timeout only ends a run that got past the check (then the test fails on the code).
    execFile(KIVE, args, { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

const cases: Array<[string, () => string, string, RegExp]> = [
  ['an absent namespace', () => cp.kubeconfigPath, 'no-such-ns', /^kive: namespace "no-such-ns" does not exist \(create it, or pass --namespace/],
  ['a user without permission', () => nobodyPath, 'default', new RegExp(`^kive: no permission to list Leases in namespace "default": .*User "${NOBODY}" cannot list resource "leases"`)],
  ['credentials the server rejects', () => bogusPath, 'default', /^kive: the API server at https:\/\/127\.0\.0\.1:\d+ rejected the kubeconfig's credentials \(401 Unauthorized\)$/],
];
for (const [name, kubeconfig, namespace, message] of cases) {
  test(`kive operator with ${name}: one line on stderr, exit 2`, async () => {
    const r = await operator(kubeconfig(), namespace);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
  });
}

test('the namespace check passes where the operator may work, and stores nothing', async () => {
  await checkNamespace(admin, 'default', cp.server);
  const nobody = new KubeConfig();
  nobody.loadFromFile(nobodyPath);
  const asNobody = new KubeClient(nobody);
  await assert.rejects(checkNamespace(asNobody, 'default', cp.server), (e) => isKiveError(e, 'KIVE_CONFIG'));
  // The Role deploy/ gives the operator for its Leases, bound to the same user.
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
  await admin.request({
    method: 'POST',
    path: `${rbac}/roles`,
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'leases' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] }] },
  });
  await admin.request({
    method: 'POST',
    path: `${rbac}/rolebindings`,
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'leases' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NOBODY }],
    },
  });
  // RBAC changes reach the authorizer through its informer: allow it a moment.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await checkNamespace(asNobody, 'default', cp.server);
      break;
    } catch (err) {
      if (!isKiveError(err, 'KIVE_CONFIG') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const leases = (await admin.request({ method: 'GET', path: '/apis/coordination.k8s.io/v1/namespaces/default/leases' })) as { items: unknown[] };
  assert.deepEqual(leases.items, [], 'the dry-run create stored no Lease');
});
