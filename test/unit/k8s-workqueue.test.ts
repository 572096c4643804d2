// The work queue's client-go semantics, with time driven by a FakeClock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/k8s/clock.ts';
import { ExponentialRateLimiter, WorkQueue } from '../../src/k8s/workqueue.ts';

/** get() with a guard: a key must be ready now, not after some future add. */
async function getNow(q: WorkQueue): Promise<string | undefined> {
  let got: string | undefined | null = null;
  const p = q.get().then((k) => (got = k));
  await Promise.resolve();
  await Promise.resolve();
  assert.notEqual(got, null, 'get() should have resolved at once');
  return p;
}

/** Resolves true if the promise settles within a few turns of the event loop. */
async function settlesSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('WorkQueue', () => {
  it('de-duplicates a key that is already queued', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.len(), 2);
    assert.equal(await getNow(q), 'a');
    assert.equal(await getNow(q), 'b');
    assert.equal(q.len(), 0);
  });

  it('never hands a key being processed to a second worker', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    assert.equal(await getNow(q), 'a');
    q.add('a'); // changed while processing
    assert.equal(q.len(), 0, 'a dirty key waits for done()');
    const second = q.get();
    assert.equal(await settlesSoon(second), false, 'a second worker must not receive a');
    q.done('a');
    assert.equal(await second, 'a', 'a key added while processing is re-run after done()');
  });

  it('does not re-run a key that was not added again while processing', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = await getNow(q);
    q.done(k as string);
    assert.equal(q.len(), 0);
    assert.equal(await settlesSoon(q.get()), false);
  });

  it('hands different keys to concurrent workers', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const w1 = q.get();
    const w2 = q.get();
    q.add('a');
    q.add('b');
    assert.deepEqual([await w1, await w2], ['a', 'b']);
    assert.ok(q.isProcessing('a') && q.isProcessing('b'));
  });

  it('addAfter queues the key only when the delay has passed on the clock', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    assert.equal(q.len(), 0);
    clock.advance(99);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
    assert.equal(await getNow(q), 'a');
  });

  it('addAfter keeps the earliest pending time for a key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    q.addAfter('a', 500); // later: ignored
    q.addAfter('b', 300);
    q.addAfter('b', 50); // sooner: replaces
    assert.equal(q.delayedLen(), 2);
    clock.advance(50);
    assert.equal(q.len(), 1, 'b is ready at 50');
    clock.advance(50);
    assert.equal(q.len(), 2, 'a is ready at 100');
    clock.advance(1000);
    assert.equal(q.len(), 2, 'no second copy of a from the later addAfter');
  });

  it('addRateLimited backs off exponentially per key and forget() resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialRateLimiter(5, 1_000_000) });
    const readyAfter = async (key: string): Promise<number> => {
      const start = clock.now();
      q.addRateLimited(key);
      let waited = 0;
      while (q.len() === 0) {
        clock.advance(1);
        waited = clock.now() - start;
        assert.ok(waited < 2_000_000, 'key never became ready');
      }
      q.done((await getNow(q)) as string);
      return waited;
    };
    assert.equal(await readyAfter('a'), 5);
    assert.equal(await readyAfter('a'), 10);
    assert.equal(await readyAfter('a'), 20);
    assert.equal(q.numRequeues('a'), 3);
    assert.equal(await readyAfter('b'), 5, 'backoff is per key');
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    assert.equal(await readyAfter('a'), 5);
  });

  it('caps the backoff', () => {
    const rl = new ExponentialRateLimiter(5, 1_000_000);
    const delays = Array.from({ length: 30 }, () => rl.when('k'));
    assert.equal(delays[0], 5);
    assert.equal(delays[17], 655_360);
    assert.equal(delays[18], 1_000_000);
    assert.equal(delays[29], 1_000_000);
    for (let i = 1; i < delays.length; i++) assert.ok((delays[i] as number) >= (delays[i - 1] as number));
  });

  it('shutDown releases waiting workers, drops delayed keys and ignores adds', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('later', 100);
    q.shutDown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pending(), 0, 'delay timers are cancelled');
    q.add('x');
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), undefined);
  });

  it('shutDownWithDrain waits for keys in processing, which are not re-run', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = (await getNow(q)) as string;
    q.add('a'); // dirty
    const drained = q.shutDownWithDrain();
    assert.equal(await settlesSoon(drained), false, 'a is still being processed');
    q.done(k);
    assert.equal(await settlesSoon(drained), true);
    assert.equal(q.len(), 0, 'a dirty key is not queued after shutdown');
  });
});
