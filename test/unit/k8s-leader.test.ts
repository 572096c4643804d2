// Leader election: the pure decision rules (lease.ts), then the elector's loop against
// an in-memory Lease API with optimistic concurrency, with time on a FakeClock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../../src/k8s/clock.ts';
import { LeaderElector } from '../../src/k8s/leader.ts';
import { decide, expiresAt, microTime, observe, type LeaderRecord, type LeaseObject } from '../../src/k8s/lease.ts';
import { ApiError, type RequestOptions, type Requester } from '../../src/k8s/rest.ts';

const logger = pino({ level: 'silent' });
const held = (holder: string, renewTime: string, transitions = 3): LeaderRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: renewTime,
  renewTime,
  leaseTransitions: transitions,
});

describe('lease decisions', () => {
  it('keeps the observation time while the record does not change', () => {
    const r = held('a', microTime(1000));
    const o1 = observe(undefined, r, 1000);
    const o2 = observe(o1, { ...r }, 9000);
    assert.equal(o2.observedAt, 1000, 'same record: not renewed since');
    const o3 = observe(o2, { ...r, renewTime: microTime(9000) }, 9500);
    assert.equal(o3.observedAt, 9500, 'a renewal is a change, observed now');
  });

  it('judges expiry from our observation, not from the holder\'s renewTime', () => {
    // The holder's clock is a day behind ours: its renewTime looks ancient to us.
    const skewedPast = held('a', microTime(Date.UTC(2020, 0, 1)));
    const now = Date.UTC(2025, 0, 1);
    const fresh = observe(undefined, skewedPast, now - 1000);
    assert.equal(decide(fresh, 'b', now, 15_000).kind, 'held', 'observed 1 s ago: still valid');
    // The holder's clock is far ahead: its renewTime is in our future, yet we have
    // seen no change for longer than the lease duration.
    const skewedFuture = held('a', microTime(now + 86_400_000));
    const stale = observe(undefined, skewedFuture, now - 15_000);
    const d = decide(stale, 'b', now, 15_000);
    assert.equal(d.kind, 'acquire', 'unchanged for 15 s by our clock: expired');
  });

  it('expires exactly leaseDurationSeconds after the observation', () => {
    const o = observe(undefined, held('a', 'x'), 50_000);
    assert.equal(expiresAt(o, 99_000), 65_000);
    assert.equal(decide(o, 'b', 64_999, 15_000).kind, 'held');
    assert.equal(decide(o, 'b', 65_000, 15_000).kind, 'acquire');
    // A record without a duration falls back to ours.
    const o2 = observe(undefined, { ...held('a', 'x'), leaseDurationSeconds: 0 }, 0);
    assert.equal(expiresAt(o2, 7_000), 7_000);
  });

  it('takes a released lease at once and counts the change of holder', () => {
    const o = observe(undefined, { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 }, 1000);
    const d = decide(o, 'b', 1000, 15_000);
    assert.equal(d.kind, 'acquire');
    if (d.kind !== 'acquire') return;
    assert.equal(d.record.holderIdentity, 'b');
    assert.equal(d.record.leaseTransitions, 5);
    assert.equal(d.record.leaseDurationSeconds, 15);
    assert.equal(d.record.acquireTime, microTime(1000));
  });

  it('renews its own lease without a transition and keeps acquireTime', () => {
    const mine = held('a', microTime(5000), 7);
    const d = decide(observe(undefined, mine, 5000), 'a', 8000, 15_000);
    assert.equal(d.kind, 'renew');
    if (d.kind !== 'renew') return;
    assert.equal(d.record.leaseTransitions, 7);
    assert.equal(d.record.acquireTime, mine.acquireTime);
    assert.equal(d.record.renewTime, microTime(8000));
  });

  it('writes MicroTime with six fractional digits', () => {
    assert.equal(microTime(Date.UTC(2025, 6, 25, 8, 6, 12, 345) + 0.678), '2025-07-25T08:06:12.345678Z');
    assert.match(microTime(0), /^1970-01-01T00:00:00\.000000Z$/);
  });
});

/** One Lease with resourceVersion checks; per-identity clients that can be broken. */
class FakeLeaseApi {
  lease: LeaseObject | undefined;
  #rv = 0;
  readonly broken = new Set<string>();

  clientFor(identity: string): Requester {
    return { request: <T>(req: RequestOptions) => this.#handle(identity, req) as Promise<T> };
  }

  async #handle(identity: string, req: RequestOptions): Promise<unknown> {
    await Promise.resolve();
    if (this.broken.has(identity)) throw new ApiError(req.method, 0, 'RequestFailed', 'connection refused');
    const copy = <T>(x: T): T => structuredClone(x);
    if (req.method === 'GET') {
      if (this.lease === undefined) throw new ApiError('GET', 404, 'NotFound', 'not found');
      return copy(this.lease);
    }
    const body = copy(req.body as LeaseObject);
    if (req.method === 'POST') {
      if (this.lease !== undefined) throw new ApiError('POST', 409, 'AlreadyExists', 'exists');
    } else if (body.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) {
      throw new ApiError('PUT', 409, 'Conflict', 'the object has been modified');
    }
    body.metadata.resourceVersion = String(++this.#rv);
    this.lease = body;
    return copy(body);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** Advances the clock in small steps, letting the electors react in between. */
async function tick(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await settle();
  }
}

function candidate(api: FakeLeaseApi, clock: FakeClock, identity: string) {
  const events: string[] = [];
  let workSignal: AbortSignal | undefined;
  const stop = new AbortController();
  const elector = new LeaderElector({
    client: api.clientFor(identity),
    namespace: 'kive',
    name: 'pods',
    identity,
    clock,
    logger,
    random: () => 0,
    callbacks: {
      onStartedLeading: (signal) => {
        workSignal = signal;
        events.push(`started@${clock.now()}`);
      },
      onStoppedLeading: () => events.push(`stopped@${clock.now()}`),
      onNewLeader: (id) => events.push(`leader:${id}`),
    },
  });
  const done = elector.run(stop.signal);
  return { elector, events, stop, done, work: () => workSignal };
}

describe('LeaderElector', () => {
  it('elects exactly one of two candidates; release lets the other take over at once', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock(1_000_000);
    const a = candidate(api, clock, 'a');
    await settle();
    const b = candidate(api, clock, 'b');
    await tick(clock, 6000);
    assert.equal(a.elector.isLeader(), true);
    assert.equal(b.elector.isLeader(), false);
    assert.equal(api.lease?.spec?.holderIdentity, 'a');
    assert.ok(b.events.includes('leader:a'));

    const t0 = clock.now();
    a.stop.abort();
    await a.done;
    assert.equal(a.work()?.aborted, true);
    assert.equal(api.lease?.spec?.holderIdentity, '', 'released on stop');
    await tick(clock, 5000);
    assert.equal(b.elector.isLeader(), true);
    const started = Number(b.events.find((e) => e.startsWith('started@'))?.slice(8));
    assert.ok(started - t0 <= 2 * 2000 + 200, `took over within a retry period, not a lease duration (${started - t0} ms)`);
    assert.equal(api.lease?.spec?.leaseTransitions, 1, 'a created it (0), b took it (1)');
    b.stop.abort();
    await b.done;
  });

  it('a leader that cannot renew stops leading before the lease can be taken', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock(5_000_000);
    const a = candidate(api, clock, 'a');
    await settle();
    const b = candidate(api, clock, 'b');
    await tick(clock, 3000);
    assert.equal(a.elector.isLeader(), true);
    const lastRenew = Date.parse(api.lease?.spec?.renewTime ?? '');

    api.broken.add('a'); // a's requests fail from now on
    let aStoppedAt = 0;
    let bStartedAt = 0;
    for (let i = 0; i < 300 && bStartedAt === 0; i++) {
      await tick(clock, 100);
      if (aStoppedAt === 0 && !a.elector.isLeader()) aStoppedAt = clock.now();
      if (bStartedAt === 0 && b.elector.isLeader()) bStartedAt = clock.now();
    }
    await a.done;
    assert.equal(a.work()?.aborted, true, "the lost leader's work is told to stop");
    assert.ok(a.events.some((e) => e.startsWith('stopped@')));
    assert.ok(aStoppedAt > 0 && bStartedAt > 0);
    assert.ok(aStoppedAt - lastRenew <= 2000 + 10_000 + 200, 'gave up within retryPeriod + renewDeadline');
    assert.ok(bStartedAt > aStoppedAt, 'no overlap: b leads only after a stopped');
    assert.ok(bStartedAt - lastRenew >= 15_000, 'b waited out the lease from its observation');
    assert.equal(api.lease?.spec?.holderIdentity, 'b');
    b.stop.abort();
    await b.done;
  });

  it('rejects timings that would let two leaders overlap', () => {
    const api = new FakeLeaseApi();
    const make = (leaseDurationMs: number, renewDeadlineMs: number) =>
      new LeaderElector({
        client: api.clientFor('x'),
        namespace: 'n',
        name: 'l',
        identity: 'x',
        leaseDurationMs,
        renewDeadlineMs,
        logger,
        callbacks: { onStartedLeading: () => {}, onStoppedLeading: () => {} },
      });
    assert.throws(() => make(10_000, 10_000), RangeError);
    assert.doesNotThrow(() => make(15_000, 10_000));
  });
});
