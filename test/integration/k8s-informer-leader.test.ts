// The informer and the leader elector against a real kube-apiserver + etcd.
//
// Connection failures are made with a TCP proxy between the client and the API server
// (TLS passes through untouched): dropping its sockets kills open watches the way a
// restarted API server or a broken network does, and blocking it refuses new ones.
// Waits poll for a condition with generous timeouts; nothing asserts on elapsed time.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../helpers/cluster.ts';
import { Controller } from '../../src/k8s/controller.ts';
import { Informer } from '../../src/k8s/informer.ts';
import { LeaderElector } from '../../src/k8s/leader.ts';
import type { LeaseObject } from '../../src/k8s/lease.ts';
import { CONFIGMAPS, LEASES, NAMESPACES } from '../../src/k8s/resource.ts';
import { ApiError, KubeClient, type RequestOptions, type Requester } from '../../src/k8s/rest.ts';
import { ResourceClient } from '../helpers/resource-client.ts';
import { labelIndex } from '../../src/k8s/store.ts';

const logger = pino({ level: process.env.KIVE_TEST_LOG ?? 'silent' });

/** Polls cond every 50 ms until it holds; fails with `what` after timeoutMs. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP relay to the API server whose connections the test can cut and refuse. */
class Relay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  blocked = false;
  port = 0;

  constructor(upstreamPort: number) {
    this.#server = createServer((client) => {
      if (this.blocked) return client.destroy();
      const upstream = connect(upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.port = (this.#server.address() as { port: number }).port;
  }

  /** Resets every open connection, as an API server restart would. */
  dropAll(): void {
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
  }
}

/** The same credentials, pointed at another server URL. */
function kubeConfigVia(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

interface ConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string; creationTimestamp?: string };
  data?: Record<string, string>;
}

// Top level, so that the helper's after() hook belongs to the file, not to a hook.
const cp: ControlPlane = await startControlPlane();
const direct = new KubeClient(cp.kubeConfig);

describe('Informer', () => {
  const ns = 'informer-test';
  let relay: Relay;
  let cms: ResourceClient<ConfigMap>;

  before(async () => {
    relay = new Relay(Number(new URL(cp.server).port));
    await relay.listen();
    await new ResourceClient(direct, NAMESPACES).create({ metadata: { name: ns } });
    cms = new ResourceClient<ConfigMap>(direct, CONFIGMAPS);
  });
  after(() => relay.close());

  it('lists, watches, survives dropped connections, resyncs, and keeps plain JSON', async () => {
    const viaRelay = new KubeClient(kubeConfigVia(cp.kubeConfig, `https://127.0.0.1:${relay.port}`));
    const label = { app: 'kive-informer-test' };
    await cms.create({ metadata: { name: 'before', namespace: ns, labels: { ...label, tier: 'x' } } });
    await cms.create({ metadata: { name: 'unlabelled', namespace: ns } });

    const informer = new Informer<ConfigMap>({
      client: viaRelay,
      resource: CONFIGMAPS,
      namespace: ns,
      labelSelector: 'app=kive-informer-test',
      indexers: { tier: labelIndex('tier') },
      resyncPeriodMs: 500,
      backoff: { initialMs: 50, maxMs: 500 },
      logger,
    });
    const seen: string[] = [];
    let resyncs = 0;
    informer.addEventHandler({
      onAdd: (o) => seen.push(`add ${o.metadata.name}`),
      onUpdate: (a, b) => {
        if (a === b) resyncs++;
        else seen.push(`update ${b.metadata.name}`);
      },
      onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    informer.start();
    try {
      await informer.waitForSync();
      assert.deepEqual(informer.store.keys(), [`${ns}/before`], 'the label selector applies');
      assert.equal(informer.store.byIndex('tier', 'x').length, 1);

      await cms.create({ metadata: { name: 'watched', namespace: ns, labels: label } });
      await until(() => informer.store.get(`${ns}/watched`) !== undefined, 'the watch delivers a create');
      // Listed and watched objects have the same plain-JSON shape.
      for (const key of [`${ns}/before`, `${ns}/watched`]) {
        assert.equal(typeof informer.store.get(key)?.metadata.creationTimestamp, 'string', key);
      }

      // Break the connection and refuse reconnects; change things meanwhile.
      const watchesBefore = informer.stats.watches;
      relay.blocked = true;
      relay.dropAll();
      await cms.create({ metadata: { name: 'while-down', namespace: ns, labels: label } });
      await cms.delete('watched', ns);
      const cm = await cms.get('before', ns);
      await cms.replace({ ...cm, data: { k: 'v' } });
      // Several failed attempts, then let it reconnect.
      await new Promise((r) => setTimeout(r, 500));
      relay.blocked = false;

      await until(
        () =>
          informer.store.get(`${ns}/while-down`) !== undefined &&
          informer.store.get(`${ns}/watched`) === undefined &&
          informer.store.get(`${ns}/before`)?.data?.['k'] === 'v',
        'the informer catches up after the outage',
      );
      assert.ok(informer.stats.watches > watchesBefore, 'the watch was restarted');
      assert.ok(seen.includes('add while-down') && seen.includes('delete watched') && seen.includes('update before'), seen.join(', '));

      const r0 = resyncs;
      await until(() => resyncs >= r0 + informer.store.size * 2, 'periodic resyncs re-deliver every object');
    } finally {
      await informer.stop();
    }
    assert.equal(informer.hasSynced(), true);
  });

  it('feeds a controller that reconciles every object it sees', async () => {
    const informer = new Informer<ConfigMap>({ client: direct, resource: CONFIGMAPS, namespace: ns, logger });
    const reconciled = new Set<string>();
    const c = new Controller({
      name: 'cm',
      logger,
      workers: 2,
      reconcile: async (key) => {
        // Level-based: read the current state from the cache by key.
        if (informer.store.get(key) !== undefined) reconciled.add(key);
      },
    });
    c.watch(informer);
    informer.start();
    c.start();
    try {
      await informer.waitForSync();
      await cms.create({ metadata: { name: 'ctl', namespace: ns } });
      await until(() => reconciled.has(`${ns}/ctl`) && reconciled.has(`${ns}/unlabelled`), 'reconciled listed and new objects');
    } finally {
      await c.stop();
      await informer.stop();
    }
  });
});

/** A client whose requests fail while `broken` is set: a leader cut off from the API. */
class Breakable implements Requester {
  broken = false;
  readonly #inner: Requester;
  constructor(inner: Requester) {
    this.#inner = inner;
  }
  request<T>(req: RequestOptions): Promise<T> {
    if (this.broken) return Promise.reject(new ApiError(`${req.method} ${req.path}`, 0, 'RequestFailed', 'cut off by the test'));
    return this.#inner.request<T>(req);
  }
}

interface Candidate {
  id: string;
  elector: LeaderElector;
  client: Breakable;
  stop: AbortController;
  done: Promise<void>;
  work?: AbortSignal;
  stopped: boolean;
}

function candidate(id: string, lease: string): Candidate {
  const client = new Breakable(direct);
  const c = { id, client, stop: new AbortController(), stopped: false } as Candidate;
  c.elector = new LeaderElector({
    client,
    namespace: 'default',
    name: lease,
    identity: id,
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 300,
    logger,
    callbacks: {
      onStartedLeading: (signal) => {
        c.work = signal;
      },
      onStoppedLeading: () => {
        c.stopped = true;
      },
    },
  });
  c.done = c.elector.run(c.stop.signal);
  return c;
}

async function leaseHolder(name: string): Promise<{ holder: string; transitions: number }> {
  const l = await new ResourceClient<LeaseObject>(direct, LEASES).get(name, 'default');
  return { holder: l.spec?.holderIdentity ?? '', transitions: l.spec?.leaseTransitions ?? 0 };
}

describe('LeaderElector', () => {
  it('elects exactly one leader; a released lease passes to the other candidate', async () => {
    const a = candidate('a', 'election-1');
    const b = candidate('b', 'election-1');
    try {
      await until(() => a.elector.isLeader() || b.elector.isLeader(), 'a leader is elected');
      const [leader, other] = a.elector.isLeader() ? [a, b] : [b, a];
      // Several renewal periods later the other candidate still has not taken over.
      await until(async () => (await leaseHolder('election-1')).holder === leader.id, 'the lease names the leader');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(other.elector.isLeader(), false);
      assert.equal(leader.elector.isLeader(), true);

      leader.stop.abort();
      await leader.done;
      assert.equal(leader.work?.aborted, true, 'the leader work was told to stop');
      assert.equal(leader.stopped, true);
      await until(() => other.elector.isLeader(), 'the other candidate takes over');
      const l = await leaseHolder('election-1');
      assert.equal(l.holder, other.id);
      assert.equal(l.transitions, 1, 'one change of holder');
    } finally {
      a.stop.abort();
      b.stop.abort();
      await Promise.all([a.done, b.done]);
    }
  });

  it('a leader whose renewals fail stops leading and the other takes over', async () => {
    const a = candidate('a', 'election-2');
    await until(() => a.elector.isLeader(), 'a leads');
    const b = candidate('b', 'election-2');
    try {
      a.client.broken = true;
      await until(() => a.stopped, 'a stops leading');
      assert.equal(a.work?.aborted, true, "the cut-off leader's work is told to stop");
      assert.equal(a.elector.isLeader(), false);
      await a.done;
      await until(() => b.elector.isLeader(), 'b takes over after the lease expires');
      assert.equal((await leaseHolder('election-2')).holder, 'b');
    } finally {
      a.stop.abort();
      b.stop.abort();
      await Promise.all([a.done, b.done]);
    }
  });
});
