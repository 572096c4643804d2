// Controller result handling: retry with backoff on errors, no retry after a
// TerminalError until the key is added again, requeueAfter honoured, one reconcile at a
// time per key. Time is a FakeClock; "soon" means a few turns of the event loop.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../../src/k8s/clock.ts';
import { Controller, specChanged, TerminalError, type ReconcileResult } from '../../src/k8s/controller.ts';
import type { EventHandler, Informer } from '../../src/k8s/informer.ts';
import type { KubeObject } from '../../src/k8s/resource.ts';
import { isKiveError } from '../../src/errors.ts';

const logger = pino({ level: 'silent' });

/** Lets queued promise callbacks and worker loops run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

function harness(reconcile: (key: string, n: number) => Promise<ReconcileResult>, workers = 1) {
  const clock = new FakeClock();
  const calls: Array<{ key: string; at: number }> = [];
  const c = new Controller({
    name: 'test',
    clock,
    logger,
    workers,
    reconcile: async (key) => {
      calls.push({ key, at: clock.now() });
      return reconcile(key, calls.filter((x) => x.key === key).length);
    },
  });
  c.start();
  return { clock, calls, c };
}

describe('Controller', () => {
  it('watch with specChanged: a status-only update wakes nothing; a spec change, a deletion and a resync do', async () => {
    const seen: string[] = [];
    let handler: EventHandler<KubeObject> | undefined;
    const informer = { addEventHandler: (h: EventHandler<KubeObject>) => ((handler = h), () => undefined) } as unknown as Informer<KubeObject>;
    const c = new Controller({ name: 'test', logger, reconcile: async (key) => void seen.push(key) });
    c.watch(informer, undefined, { updates: specChanged });
    c.start();
    const v1: KubeObject = { metadata: { name: 'p', namespace: 'ns', generation: 1 } };
    const statusOnly = { ...v1, status: { armedTraps: 5 } } as KubeObject;
    handler!.onUpdate!(v1, statusOnly);
    await settle();
    assert.deepEqual(seen, [], 'a status write (same generation) is not news to a spec reader');
    handler!.onUpdate!(statusOnly, { metadata: { ...v1.metadata, generation: 2 } });
    await settle();
    handler!.onUpdate!(v1, { metadata: { ...v1.metadata, deletionTimestamp: '2026-12-02T00:00:00Z' } });
    await settle();
    handler!.onUpdate!(v1, v1); // the informer's periodic resync
    await settle();
    assert.deepEqual(seen, ['ns/p', 'ns/p', 'ns/p']);
    await c.stop();
  });

  it('retries a failing reconcile with a growing backoff, then forgets it on success', async () => {
    const { clock, calls, c } = harness(async (_k, n) => {
      if (n <= 3) throw new Error('api down');
    });
    c.enqueue('ns/a');
    await settle();
    assert.equal(calls.length, 1);
    for (const wait of [5, 10, 20]) {
      clock.advance(wait - 1);
      await settle();
      const before: number = calls.length;
      clock.advance(1);
      await settle();
      assert.equal(calls.length, before + 1, `retry after ${wait} ms`);
    }
    assert.deepEqual(calls.map((x) => x.at), [0, 5, 15, 35]);
    assert.equal(c.queue.numRequeues('ns/a'), 0, 'success forgets the backoff');
    clock.advance(10_000);
    await settle();
    assert.equal(calls.length, 4, 'no further runs after success');
    await c.stop();
  });

  it('does not retry a TerminalError until the key is added again', async () => {
    const { clock, calls, c } = harness(async (_k, n) => {
      if (n === 1) throw new TerminalError('spec.traps[0].path must be absolute');
    });
    c.enqueue('ns/bad');
    await settle();
    clock.advance(3_600_000);
    await settle();
    assert.equal(calls.length, 1, 'no retry after a terminal error');
    assert.equal(c.queue.delayedLen(), 0);
    assert.equal(c.queue.numRequeues('ns/bad'), 0);
    c.enqueue('ns/bad'); // the object changed
    await settle();
    assert.equal(calls.length, 2);
    await c.stop();
  });

  it('honours requeueAfterMs', async () => {
    const { clock, calls, c } = harness(async (_k, n) => (n < 3 ? { requeueAfterMs: 30_000 } : undefined));
    c.enqueue('k');
    await settle();
    clock.advance(29_999);
    await settle();
    assert.equal(calls.length, 1);
    clock.advance(1);
    await settle();
    assert.equal(calls.length, 2);
    clock.advance(30_000);
    await settle();
    clock.advance(100_000);
    await settle();
    assert.deepEqual(calls.map((x) => x.at), [0, 30_000, 60_000]);
    await c.stop();
  });

  it('never reconciles one key twice at once, and re-runs it if it changed meanwhile', async () => {
    let active = 0;
    let maxActive = 0;
    const gates: Array<() => void> = [];
    const { calls, c } = harness(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => gates.push(r));
      active--;
    }, 4);
    c.enqueue('k');
    await settle();
    c.enqueue('k');
    c.enqueue('k');
    await settle();
    assert.equal(calls.length, 1, 'a second worker must not take k while it runs');
    (gates.shift() as () => void)();
    await settle();
    assert.equal(calls.length, 2, 'k changed while running: run once more');
    (gates.shift() as () => void)();
    await settle();
    assert.equal(calls.length, 2, 'the two adds during the run coalesce into one re-run');
    assert.equal(maxActive, 1);
    await c.stop();
  });

  it('runs different keys in parallel up to the worker count', async () => {
    let active = 0;
    let maxActive = 0;
    const gates: Array<() => void> = [];
    const { c } = harness(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => gates.push(r));
      active--;
    }, 2);
    for (const k of ['a', 'b', 'c']) c.enqueue(k);
    await settle();
    assert.equal(maxActive, 2);
    const stopping = c.stop();
    for (const g of gates.splice(0)) g();
    await settle();
    for (const g of gates.splice(0)) g();
    await stopping;
    assert.equal(active, 0);
  });

  it('stop() aborts the signal of a running reconcile and starts nothing new', async () => {
    const clock = new FakeClock();
    let seen: AbortSignal | undefined;
    let runs = 0;
    const c = new Controller({
      name: 'stop',
      clock,
      logger,
      reconcile: (_key, signal) => {
        runs++;
        seen = signal;
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
      },
    });
    c.start();
    c.enqueue('a');
    c.enqueue('b');
    await settle();
    await c.stop();
    assert.equal(seen?.aborted, true);
    assert.equal(runs, 1, 'b is not started after stop');
    c.enqueue('c');
    await settle();
    assert.equal(runs, 1);
  });

  it('TerminalError carries a stable code', () => {
    const e = new TerminalError('bad spec', { cause: new Error('x') });
    assert.ok(isKiveError(e, 'KIVE_TERMINAL'));
    assert.equal(e.name, 'TerminalError');
  });
});
