// Server-side apply, patches and finalizers against a real kube-apiserver + etcd, on a
// tiny test CRD defined here (the real Kive CRDs live in deploy/crds) and on a core kind.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startControlPlane } from '../helpers/cluster.ts';
import { ResourceClient } from '../helpers/resource-client.ts';
import { retryOnConflict } from '../../src/k8s/finalizers.ts';
import { CONFIGMAPS, CRDS, type KubeObject, type ResourceRef } from '../../src/k8s/resource.ts';
import { ApiError, KubeClient, isConflict } from '../../src/k8s/rest.ts';

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const WIDGETS: ResourceRef = { group: 'test.kive.example', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };

interface Widget extends KubeObject {
  metadata: NonNullable<KubeObject['metadata']> & { managedFields?: Array<{ manager: string; subresource?: string }> };
  spec?: { size?: number; color?: string };
  status?: { phase?: string };
}

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.kive.example' },
  spec: {
    group: 'test.kive.example',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { size: { type: 'integer' }, color: { type: 'string' } } },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

// Top level, so that the helper's after() hook belongs to the file, not to a hook.
const cp = await startControlPlane();
const client = new KubeClient(cp.kubeConfig);
let widgets: ResourceClient<Widget>;

before(async () => {
  await new ResourceClient<KubeObject>(client, CRDS).create(widgetCrd);
  widgets = new ResourceClient<Widget>(client, WIDGETS);
  // Established, and actually served (discovery can lag the condition).
  await until(async () => {
    try {
      await widgets.list({ namespace: 'default' });
      return true;
    } catch {
      return false;
    }
  }, 'the Widget CRD is served');
});

const managers = (w: Widget): string[] => (w.metadata.managedFields ?? []).map((f) => `${f.manager}${f.subresource ? `/${f.subresource}` : ''}`).sort();

describe('server-side apply', () => {
  it('creates and updates a custom object under a field manager', async () => {
    const created = await widgets.apply({ metadata: { name: 'w1', namespace: 'default' }, spec: { size: 1, color: 'red' } }, { fieldManager: 'kive-a' });
    assert.equal(created.apiVersion, 'test.kive.example/v1');
    assert.deepEqual(created.spec, { size: 1, color: 'red' });
    assert.deepEqual(managers(created), ['kive-a']);

    const updated = await widgets.apply({ metadata: { name: 'w1', namespace: 'default' }, spec: { size: 2, color: 'red' } }, { fieldManager: 'kive-a' });
    assert.equal(updated.spec?.size, 2);
    assert.notEqual(updated.metadata.resourceVersion, created.metadata.resourceVersion);
    // Applying the same intent again changes nothing.
    const again = await widgets.apply({ metadata: { name: 'w1', namespace: 'default' }, spec: { size: 2, color: 'red' } }, { fieldManager: 'kive-a' });
    assert.equal(again.metadata.resourceVersion, updated.metadata.resourceVersion);
  });

  it('rejects a conflicting manager with 409 unless forced', async () => {
    const intent: Widget = { metadata: { name: 'w1', namespace: 'default' }, spec: { size: 3 } };
    await assert.rejects(widgets.apply(intent, { fieldManager: 'kive-b' }), (err: unknown) => {
      assert.ok(err instanceof ApiError && isConflict(err), String(err));
      assert.equal(err.code, 'KIVE_K8S_API');
      assert.match(err.message, /409 Conflict/);
      return true;
    });
    assert.equal((await widgets.get('w1', 'default')).spec?.size, 2, 'nothing changed');
    const forced = await widgets.apply(intent, { fieldManager: 'kive-b', force: true });
    assert.equal(forced.spec?.size, 3);
    assert.equal(forced.spec?.color, 'red', 'fields only kive-a applied are kept');
    assert.deepEqual(managers(forced), ['kive-a', 'kive-b']);
  });

  it('applies status through the status subresource only', async () => {
    const w = await widgets.applyStatus(
      { metadata: { name: 'w1', namespace: 'default' }, status: { phase: 'Ready' }, spec: { size: 99 } },
      { fieldManager: 'kive-status' },
    );
    assert.equal(w.status?.phase, 'Ready');
    assert.equal(w.spec?.size, 3, 'spec is ignored by the status subresource');
    assert.ok(managers(w).includes('kive-status/status'), managers(w).join(','));
  });

  it('applies a core kind too, and honours dryRun', async () => {
    const cms = new ResourceClient<KubeObject & { data?: Record<string, string> }>(client, CONFIGMAPS);
    const dry = await cms.apply({ metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } }, { fieldManager: 'kive', dryRun: true });
    assert.equal(dry.data?.['a'], '1');
    assert.equal(await cms.tryGet('cfg', 'default'), undefined, 'dryRun persisted nothing');
    const cm = await cms.apply({ metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } }, { fieldManager: 'kive' });
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(typeof cm.metadata?.creationTimestamp, 'string', 'plain JSON, no Date');
  });
});

describe('finalizers', () => {
  it('adds and removes a finalizer, guarded by resourceVersion', async () => {
    const fin = 'test.kive.example/cleanup';
    const w0 = await widgets.create({ metadata: { name: 'wf', namespace: 'default' }, spec: { size: 1 } });
    const w1 = await widgets.addFinalizer(w0, fin);
    assert.deepEqual(w1.metadata.finalizers, [fin]);
    assert.equal(await widgets.addFinalizer(w1, fin), w1, 'adding twice is a no-op without a request');

    // A stale copy must not overwrite the list: 409.
    await assert.rejects(widgets.addFinalizer(w0, 'test.kive.example/other'), (e: unknown) => isConflict(e));
    // Re-reading on conflict gets both in.
    await retryOnConflict(async () => widgets.addFinalizer(await widgets.get('wf', 'default'), 'test.kive.example/other'));
    assert.deepEqual((await widgets.get('wf', 'default')).metadata.finalizers, [fin, 'test.kive.example/other']);

    // Deletion waits for the finalizers; removing the last one completes it.
    assert.equal(await widgets.delete('wf', 'default'), true);
    let w = await widgets.get('wf', 'default');
    assert.equal(typeof w.metadata.deletionTimestamp, 'string');
    w = await widgets.removeFinalizer(w, 'test.kive.example/other');
    assert.deepEqual(w.metadata.finalizers, [fin]);
    assert.notEqual(await widgets.tryGet('wf', 'default'), undefined, 'still held by the other finalizer');
    await widgets.removeFinalizer(w, fin);
    await until(async () => (await widgets.tryGet('wf', 'default')) === undefined, 'the object is gone');
  });
});
