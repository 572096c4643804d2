// Smoke tests of the test control plane itself: a real etcd + kube-apiserver started
// by test/helpers/cluster.ts, driven through @kubernetes/client-node. If these fail,
// every other integration test is suspect.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ApiException,
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Watch,
  type V1CustomResourceDefinition,
  type V1Lease,
} from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../helpers/cluster.ts';

const pinnedVersion = /^K8S_VERSION=(\S+)$/m.exec(
  readFileSync(new URL('../cluster/bin/versions.env', import.meta.url), 'utf8'),
)?.[1];

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) =>
    execFile(file, args, { encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? fail(new Error(`${file} ${args.join(' ')}: ${stderr || String(err)}`)) : ok(stdout),
    ),
  );
}

/** The Status object of a failed call; client-node 2.x hands the body over as text. */
function statusOf(err: unknown): { code: number; reason?: string; message?: string } {
  assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
  const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  const status = body as { reason?: string; message?: string };
  return { code: err.code, reason: status.reason, message: status.message };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const group = 'smoke.kive.test';
const widgetCrd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  color: { type: 'string', _enum: ['red', 'green'] },
                },
              },
            },
          },
        },
      },
    ],
  },
};

// At the top level of the file, so that the after() hook the helper registers belongs
// to the file and runs when all of its tests are done (registered from inside a
// before() hook, it would belong to that hook and run right after it).
const cp: ControlPlane = await startControlPlane();
console.log(`control plane ${cp.server} ready in ${cp.startupMs} ms`);

describe('test control plane (etcd + kube-apiserver)', () => {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const ns = 'smoke';

  test('serves the pinned Kubernetes version and answers kubectl', async () => {
    assert.ok(pinnedVersion, 'K8S_VERSION in test/cluster/bin/versions.env');
    const apiserverVersion = await sh(join(cp.binDir, 'kube-apiserver'), ['--version']);
    assert.equal(apiserverVersion.trim(), `Kubernetes ${pinnedVersion}`);
    const kubectl = join(cp.binDir, 'kubectl');
    assert.equal(await sh(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', '--raw', '/readyz']), 'ok');
    const versions = JSON.parse(await sh(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    assert.equal(versions.serverVersion.gitVersion, pinnedVersion);
    assert.equal(versions.clientVersion.gitVersion, pinnedVersion);
  });

  test('creates a namespace', async () => {
    const created = await core.createNamespace({ body: { metadata: { name: ns } } });
    assert.equal(created.metadata?.name, ns);
    const read = await core.readNamespace({ name: ns });
    assert.equal(read.status?.phase, 'Active');
    await assert.rejects(core.createNamespace({ body: { metadata: { name: ns } } }), (err) => {
      assert.equal(statusOf(err).code, 409);
      return true;
    });
  });

  test('installs a CRD that becomes Established, then validates objects against its schema', async () => {
    const ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: widgetCrd });
    await eventually('the Widget CRD to be Established', async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    });

    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const target = { group, version: 'v1', namespace: ns, plural: 'widgets' };
    // Right after Established the new resource can take a moment to be served.
    const ok = (await eventually('a valid Widget to be accepted', async () => {
      try {
        return await custom.createNamespacedCustomObject({
          ...target,
          body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'good' }, spec: { size: 3, color: 'red' } },
        });
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    })) as { metadata: { name: string }; spec: { size: number } };
    assert.equal(ok.metadata.name, 'good');
    assert.equal(ok.spec.size, 3);

    await assert.rejects(
      custom.createNamespacedCustomObject({
        ...target,
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 0, color: 'blue' } },
      }),
      (err) => {
        const status = statusOf(err);
        assert.equal(status.code, 422);
        assert.equal(status.reason, 'Invalid');
        assert.match(status.message ?? '', /Widget\.smoke\.kive\.test "bad" is invalid/);
        assert.match(status.message ?? '', /spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/);
        assert.match(status.message ?? '', /spec\.color: Unsupported value: "blue"/);
        return true;
      },
    );
    await assert.rejects(
      custom.createNamespacedCustomObject({
        ...target,
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'nosize' }, spec: { color: 'green' } },
      }),
      (err) => {
        const status = statusOf(err);
        assert.equal(status.code, 422);
        assert.match(status.message ?? '', /spec\.size: Required value/);
        return true;
      },
    );
  });

  test('a watch sees create, update and delete', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const events: { type: string; name: string; data?: Record<string, string>; rv: string }[] = [];
    let sawDelete!: () => void;
    const deleted = new Promise<void>((r) => (sawDelete = r));
    let watchEnded: unknown = undefined;
    const watch = await new Watch(cp.kubeConfig).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: list.metadata?.resourceVersion },
      (type, obj: { metadata: { name: string; resourceVersion: string }; data?: Record<string, string> }) => {
        if (obj.metadata.name !== 'watched') return;
        events.push({ type, name: obj.metadata.name, data: obj.data, rv: obj.metadata.resourceVersion });
        if (type === 'DELETED') sawDelete();
      },
      (err) => (watchEnded = err ?? 'closed'),
    );
    try {
      const created = await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'watched' }, data: { step: 'one' } },
      });
      const updated = await core.replaceNamespacedConfigMap({
        name: 'watched',
        namespace: ns,
        body: { ...created, data: { step: 'two' } },
      });
      await core.deleteNamespacedConfigMap({ name: 'watched', namespace: ns });
      await Promise.race([
        deleted,
        new Promise((_, fail) => setTimeout(() => fail(new Error(`no DELETED event; saw ${JSON.stringify(events)}`)), 15_000)),
      ]);
      assert.equal(watchEnded, undefined, 'the watch ended early');
      assert.deepEqual(
        events.map((e) => [e.type, e.data?.['step']]),
        [
          ['ADDED', 'one'],
          ['MODIFIED', 'two'],
          ['DELETED', 'two'],
        ],
      );
      assert.equal(events[0]?.rv, created.metadata?.resourceVersion);
      assert.equal(events[1]?.rv, updated.metadata?.resourceVersion);
    } finally {
      watch.abort();
    }
  });

  test('two writers of one Lease at the same resourceVersion: one wins, one gets 409 Conflict', async () => {
    const coordination = cp.kubeConfig.makeApiClient(CoordinationV1Api);
    const lease = await coordination.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'nobody', leaseDurationSeconds: 15 } },
    });
    const rv = lease.metadata?.resourceVersion;
    assert.ok(rv);
    const claim = (holder: string): Promise<V1Lease> =>
      coordination.replaceNamespacedLease({
        name: 'leader',
        namespace: ns,
        // No acquireTime/renewTime: client-node 2.0.1 writes a MicroTime with millisecond
        // precision, which the API server refuses with 400 (it wants six digits).
        body: { ...lease, spec: { ...lease.spec, holderIdentity: holder, leaseTransitions: 1 } },
      });
    const results = await Promise.allSettled([claim('writer-a'), claim('writer-b')]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1, `exactly one writer wins: ${JSON.stringify(results)}`);
    assert.equal(lost.length, 1);
    const conflict = statusOf((lost[0] as PromiseRejectedResult).reason);
    assert.equal(conflict.code, 409);
    assert.equal(conflict.reason, 'Conflict');
    assert.match(conflict.message ?? '', /the object has been modified; please apply your changes to the latest version/);

    const winner = (won[0] as PromiseFulfilledResult<V1Lease>).value;
    const stored = await coordination.readNamespacedLease({ name: 'leader', namespace: ns });
    assert.equal(stored.spec?.holderIdentity, winner.spec?.holderIdentity);
    assert.notEqual(stored.metadata?.resourceVersion, rv);
  });

  test('another control plane started alongside is isolated, and stop() removes it', async () => {
    const other = await startControlPlane({ registerAfter: false });
    const dir = join(other.kubeconfigPath, '..');
    try {
      const names = (await other.kubeConfig.makeApiClient(CoreV1Api).listNamespace()).items.map((n) => n.metadata?.name);
      assert.ok(names.includes('default'));
      assert.ok(!names.includes('smoke'), 'a namespace of the first control plane leaked into the second');
    } finally {
      await other.stop();
    }
    assert.equal(existsSync(dir), false, 'its directory is gone');
    await assert.rejects(other.kubeConfig.makeApiClient(CoreV1Api).listNamespace(), /ECONNREFUSED|fetch failed|connect/i);
    await other.stop(); // a second stop is harmless
  });
});

describe('startControlPlane', () => {
  test('fails, naming make cluster-bins, when the binaries are missing', async () => {
    const saved = process.env['KIVE_K8S_BIN_DIR'];
    process.env['KIVE_K8S_BIN_DIR'] = join(import.meta.dirname, 'no-such-dir');
    try {
      await assert.rejects(startControlPlane({ registerAfter: false }), /is missing; build the test control plane with 'make cluster-bins'/);
    } finally {
      if (saved === undefined) delete process.env['KIVE_K8S_BIN_DIR'];
      else process.env['KIVE_K8S_BIN_DIR'] = saved;
    }
  });
});
