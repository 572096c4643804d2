// The informer's list/watch state machine against a scripted fake API server on
// loopback HTTP: a 410 ERROR event relists, a closed stream or an HTTP error re-watches
// from the last resourceVersion seen (bookmarks included), paged lists are followed,
// relists report deletions. The real API server tests are in test/integration.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../src/k8s/informer.ts';
import { CONFIGMAPS } from '../../src/k8s/resource.ts';
import { KubeClient } from '../../src/k8s/rest.ts';

const cm = (name: string, rv: string, data?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', resourceVersion: rv, creationTimestamp: '2025-07-25T08:06:12Z' },
  ...(data ? { data } : {}),
});
type CM = ReturnType<typeof cm>;

type Handler = (req: IncomingMessage, res: ServerResponse, q: URLSearchParams) => void;
const lists: Handler[] = [];
const watches: Handler[] = [];
const watchRvs: string[] = [];
const open = new Set<ServerResponse>();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  assert.equal(url.pathname, '/api/v1/namespaces/ns/configmaps');
  open.add(res);
  res.on('close', () => open.delete(res));
  if (url.searchParams.get('watch') === 'true') {
    watchRvs.push(url.searchParams.get('resourceVersion') ?? '');
    const h = watches.shift();
    if (h) h(req, res, url.searchParams);
    // No script left: hold the watch open until the test stops the informer.
    else res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
  } else {
    const h = lists.shift();
    if (h === undefined) return void res.writeHead(500).end('{}');
    h(req, res, url.searchParams);
  }
});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const events = (res: ServerResponse, evs: Array<{ type: string; object: unknown }>, end: boolean) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  for (const e of evs) res.write(`${JSON.stringify(e)}\n`);
  if (end) res.end();
};

let kc: KubeConfig;
before(async () => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
    currentContext: 'fake',
  });
});
after(async () => {
  for (const r of open) r.destroy();
  await new Promise<void>((ok) => server.close(() => ok()));
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `never happened: ${what}`);
}

describe('Informer against a scripted API server', { timeout: 10_000 }, () => {
  it('relists on 410, re-watches from the last resourceVersion after a close or an error', async () => {
    // List 1, two pages: a (rv 1), b (rv 2); collection rv 10.
    lists.push((_q, res, q) => {
      assert.equal(q.get('limit'), '1');
      json(res, 200, { items: [cm('a', '1')], metadata: { resourceVersion: '10', continue: 'page2' } });
    });
    lists.push((_q, res, q) => {
      assert.equal(q.get('continue'), 'page2');
      json(res, 200, { items: [cm('b', '2')], metadata: { resourceVersion: '10' } });
    });
    // Watch 1: c is added, then our resourceVersion has expired.
    watches.push((_r, res) =>
      events(res, [
        { type: 'ADDED', object: cm('c', '11') },
        { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } },
      ], false),
    );
    // List 2 (relist): b is gone meanwhile, a changed.
    lists.push((_q, res) => json(res, 200, { items: [cm('a', '15', { k: 'v' }), cm('c', '11')], metadata: { resourceVersion: '20' } }));
    // Watch 2: a modified, then the server ends the stream.
    watches.push((_r, res) => events(res, [{ type: 'MODIFIED', object: cm('a', '21', { k: 'w' }) }], true));
    // Watch 3: only a bookmark, then the stream ends.
    watches.push((_r, res) => events(res, [{ type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: '30' } } }], true));
    // Watch 4: the server fails.
    watches.push((_r, res) => json(res, 500, { kind: 'Status', code: 500, message: 'etcd unavailable' }));
    // Watch 5: c deleted; then held open.
    watches.push((_r, res) => events(res, [{ type: 'DELETED', object: cm('c', '31') }], false));

    const informer = new Informer<CM>({
      client: new KubeClient(kc),
      resource: CONFIGMAPS,
      namespace: 'ns',
      pageSize: 1,
      backoff: { initialMs: 1, maxMs: 5 },
      logger: pino({ level: 'silent' }),
    });
    const seen: string[] = [];
    informer.addEventHandler({
      onAdd: (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onUpdate: (_a, b) => seen.push(`update ${b.metadata.name}@${b.metadata.resourceVersion}`),
      onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    informer.start();
    await informer.waitForSync();
    await until(() => watchRvs.length >= 5 && seen.includes('delete c'), 'the script ran to its end');
    await informer.stop();

    assert.deepEqual(watchRvs.slice(0, 5), ['10', '20', '21', '30', '30']);
    assert.equal(informer.stats.lists, 2, 'one relist, for the 410 only');
    assert.deepEqual(seen, [
      'add a@1',
      'add b@2',
      'add c@11',
      // relist: existing objects are updated, vanished ones deleted
      'update a@15',
      'update c@11',
      'delete b',
      'update a@21',
      'delete c',
    ]);
    assert.deepEqual(informer.store.keys(), ['ns/a']);
    assert.equal(informer.store.get('ns/a')?.data?.['k'], 'w');
    assert.equal(informer.lastSyncResourceVersion(), '31');
  });

  it('replays the cache to a late handler; waitForSync rejects once stopped', async () => {
    lists.push((_q, res) => json(res, 200, { items: [cm('x', '1'), cm('y', '2')], metadata: { resourceVersion: '5' } }));
    const informer = new Informer<CM>({ client: new KubeClient(kc), resource: CONFIGMAPS, namespace: 'ns', logger: pino({ level: 'silent' }) });
    informer.start();
    await informer.waitForSync();
    const late: string[] = [];
    informer.addEventHandler({ onAdd: (o) => late.push(o.metadata.name) });
    assert.deepEqual(late.sort(), ['x', 'y']);
    await informer.stop();

    const never = new Informer<CM>({ client: new KubeClient(kc), resource: CONFIGMAPS, namespace: 'ns', logger: pino({ level: 'silent' }) });
    lists.push((_q, res) => json(res, 500, {})); // the list fails; it never syncs
    never.start();
    const waiting = never.waitForSync();
    await never.stop();
    await assert.rejects(waiting, /stopped/);
    assert.equal(never.hasSynced(), false);
  });

  it('stop() does not wait for a watch request the server has not answered', async () => {
    lists.push((_q, res) => json(res, 200, { items: [], metadata: { resourceVersion: '5' } }));
    let asked = false;
    watches.push(() => {
      asked = true; // never answered: no headers, no body
    });
    const informer = new Informer<CM>({ client: new KubeClient(kc), resource: CONFIGMAPS, namespace: 'ns', logger: pino({ level: 'silent' }) });
    informer.start();
    await until(() => asked, 'the watch request arrived');
    // Without the fix this waited for the Watch class's 30 s timer; the runner's
    // timeout below turns such a hang into a failure.
    await informer.stop();
  });
});
