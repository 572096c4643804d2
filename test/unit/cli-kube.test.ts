// kube.ts: which kubeconfig `kive operator` takes, and what the namespace check says for
// each answer of the API server (a fake Requester here; the real server is in
// test/integration/cli-first-contact.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { ApiError, type RequestOptions, type Requester } from '../../src/k8s/rest.ts';
import { checkNamespace, loadKubeConfig, SERVICE_ACCOUNT_TOKEN } from '../../src/cli/kube.ts';

const dir = mkdtempSync(join(tmpdir(), 'kive-kube-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, server: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: '${server}' } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
  );
  return path;
}

const a = kubeconfig('a', 'https://a.example:6443');
const b = kubeconfig('b', 'https://b.example:6443');
const none = () => false;

test('--kubeconfig wins over $KUBECONFIG', () => {
  const kc = loadKubeConfig({ flag: a, env: { KUBECONFIG: b } });
  assert.equal(kc.getCurrentCluster()?.server, 'https://a.example:6443');
});

test('$KUBECONFIG wins over ~/.kube/config; every file it names must exist', () => {
  assert.equal(loadKubeConfig({ env: { KUBECONFIG: b }, home: dir }).getCurrentCluster()?.server, 'https://b.example:6443');
  assert.throws(
    () => loadKubeConfig({ env: { KUBECONFIG: `${b}:${join(dir, 'gone')}` } }),
    (e: unknown) => isKiveError(e, 'KIVE_CONFIG') && (e as Error).message === `$KUBECONFIG names ${join(dir, 'gone')}: no such file`,
  );
});

test('~/.kube/config, then the service account, then a clear error', () => {
  const home = join(dir, 'home');
  const homeConfig = join(home, '.kube', 'config');
  const exists = (p: string) => p === homeConfig;
  assert.throws(() => loadKubeConfig({ env: {}, home, exists }), /not a usable kubeconfig/, 'it is read when it "exists"');
  const inPod = (p: string) => p === SERVICE_ACCOUNT_TOKEN;
  // client-node reads the service's address from process.env itself: only the choice is checked.
  const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, home, exists: inPod });
  assert.equal(kc.getCurrentCluster()?.name, 'inCluster');
  assert.throws(
    () => loadKubeConfig({ env: {}, home, exists: none }),
    (e: unknown) => isKiveError(e, 'KIVE_CONFIG') && /^no kubeconfig: pass --kubeconfig FILE or set \$KUBECONFIG/.test((e as Error).message),
  );
  assert.throws(() => loadKubeConfig({ env: {}, home, exists: inPod }), /: no kubeconfig: /, 'a token without KUBERNETES_SERVICE_HOST is no pod');
});

/** Answers each request with the next of `answers` (an Error is thrown); records them. */
function fakeClient(...answers: Array<unknown>): Requester & { calls: RequestOptions[] } {
  const calls: RequestOptions[] = [];
  return {
    calls,
    async request<T>(req: RequestOptions): Promise<T> {
      calls.push(req);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next as T;
    },
  };
}

const api = (status: number, reason: string, body: unknown = { message: `${reason} happened`, reason }) =>
  new ApiError('call', status, reason, 'detail', body);
const SERVER = 'https://api.example:6443';

test('checkNamespace lists Leases, then dry-run creates one (nothing stored)', async () => {
  const client = fakeClient({ items: [] }, {});
  await checkNamespace(client, 'kive', SERVER);
  assert.deepEqual(
    client.calls.map((c) => [c.method, c.path, c.query]),
    [
      ['GET', '/apis/coordination.k8s.io/v1/namespaces/kive/leases', { limit: 1 }],
      ['POST', '/apis/coordination.k8s.io/v1/namespaces/kive/leases', { dryRun: 'All' }],
    ],
  );
  await checkNamespace(fakeClient({ items: [] }, api(409, 'AlreadyExists')), 'kive', SERVER);
});

const failures: Array<[string, unknown[], string, RegExp]> = [
  ['absent namespace', [{ items: [] }, api(404, 'NotFound', { reason: 'NotFound', details: { name: 'kive', kind: 'namespaces' } })], 'KIVE_CONFIG', /^namespace "kive" does not exist \(create it, or pass --namespace/],
  ['no permission to read', [api(403, 'Forbidden', { message: 'leases is forbidden: User "bob" cannot list' })], 'KIVE_CONFIG', /^no permission to list Leases in namespace "kive": leases is forbidden: User "bob" cannot list$/],
  ['no permission to write', [{ items: [] }, api(403, 'Forbidden', { message: 'nope' })], 'KIVE_CONFIG', /^no permission to create Leases in namespace "kive": nope$/],
  ['bad credentials', [api(401, 'Unauthorized')], 'KIVE_CONFIG', /^the API server at https:\/\/api\.example:6443 rejected the kubeconfig's credentials/],
  ['an unreachable server', [new ApiError('GET /x', 0, 'RequestFailed', 'connect ECONNREFUSED 127.0.0.1:1')], 'KIVE_K8S_API', /^cannot reach the API server at https:\/\/api\.example:6443: connect ECONNREFUSED/],
];
for (const [name, answers, code, message] of failures) {
  test(`checkNamespace: ${name}`, async () => {
    await assert.rejects(checkNamespace(fakeClient(...answers), 'kive', SERVER), (e: unknown) => {
      assert.ok(isKiveError(e, code as 'KIVE_CONFIG'), `code ${(e as { code?: string }).code}`);
      assert.match((e as Error).message, message);
      return true;
    });
  });
}

test('checkNamespace passes other API errors through unchanged', async () => {
  const other = api(500, 'InternalError');
  await assert.rejects(checkNamespace(fakeClient(other), 'kive', SERVER), (e) => e === other);
});
