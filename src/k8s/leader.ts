// Lease-based leader election with client-go's semantics (the decision rules are in
// lease.ts). client-node has none; Kive needs it for one loader per kernel and one pod
// controller per cluster.
//
//   candidate: every retryPeriod (+ jitter) read the Lease; take it when it is free or
//              expired by our own observation; create it if missing. Writes carry the
//              resourceVersion read, so of two candidates one wins and one gets 409.
//   leader:    every retryPeriod renew; a renewal round retries until renewDeadline.
//              If no renewal succeeds by then, leadership is lost: the work's signal is
//              aborted and onStoppedLeading is called - before anyone else can take the
//              lease, since renewDeadline < leaseDuration.
//   stopping:  when run()'s signal aborts, the work's signal is aborted, its promise is
//              awaited, then the lease is released (holder cleared) so that a successor
//              takes over at its next try rather than after leaseDuration.
//
// Ownership: run() owns its timers and requests and leaves none behind when it
// resolves. The elector never closes the KubeClient.

import { realClock, sleep, type Clock } from './clock.ts';
import {
  decide,
  initialRecord,
  leaseWithRecord,
  observe,
  recordFromLease,
  releasedRecord,
  type LeaseObject,
  type LeaseObservation,
} from './lease.ts';
import { defaultLogger, type Logger } from './log.ts';
import { LEASES, apiVersionOf, collectionPath, objectPath } from './resource.ts';
import { errorText, isConflict, isNotFound, type Requester } from './rest.ts';

export interface LeaderCallbacks {
  /**
   * Called once leadership is acquired. Start the work here and stop it when signal
   * aborts; if it returns a promise, the elector waits for it before releasing.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called after leading ended, lost or released. Not called if never leading. */
  onStoppedLeading(): void;
  /** Called when the observed holder changes to someone (ourselves included). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectorOptions {
  client: Requester;
  /** The Lease: namespace and name shared by all candidates. */
  namespace: string;
  name: string;
  /** Unique per candidate (e.g. pod name); reusing it across processes is unsafe. */
  identity: string;
  /** How long a lease is valid after its last observed change (default 15 s). */
  leaseDurationMs?: number;
  /** How long a leader keeps retrying a renewal before giving up (default 10 s). */
  renewDeadlineMs?: number;
  /** Interval between attempts (default 2 s). */
  retryPeriodMs?: number;
  /** Clear the holder when run()'s signal aborts (default true). */
  releaseOnCancel?: boolean;
  callbacks: LeaderCallbacks;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Records leadership of this Lease (1 while leading); src/metrics/ implements it. */
  metrics?: LeaderMetrics;
}

export interface LeaderMetrics {
  setLeader(lease: string, leading: boolean): void;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'clock' | 'logger' | 'random' | 'metrics'>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #random: () => number;
  #obs: LeaseObservation | undefined;
  /** The last Lease object read or written, for the next write's resourceVersion. */
  #lease: LeaseObject | undefined;
  #reportedLeader = '';
  #leading = false;
  readonly #metrics: LeaderMetrics | undefined;
  #running = false;

  constructor(opts: LeaderElectorOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      ...opts,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.#o;
    // client-go's validation: a leader must give up before a successor may take over.
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > 1.2 * retryPeriodMs && retryPeriodMs > 0)) {
      throw new RangeError('leader election: need leaseDuration > renewDeadline > 1.2 * retryPeriod > 0');
    }
    if (opts.identity === '') throw new RangeError('leader election: identity must not be empty');
    this.#clock = opts.clock ?? realClock;
    this.#metrics = opts.metrics;
    this.#random = opts.random ?? Math.random;
    this.#log = (opts.logger ?? defaultLogger()).child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  #setLeader(leading: boolean): void {
    this.#metrics?.setLeader(`${this.#o.namespace}/${this.#o.name}`, leading);
  }

  /** True while this candidate holds the lease by its last successful write. */
  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Campaigns, leads, and resolves when leadership ended (lost, or signal aborted) or
   * when signal aborted before leadership was won. One run() at a time.
   */
  async run(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.#running) throw new Error('leader election: run() is already running');
    this.#running = true;
    this.#setLeader(false);
    try {
      if (!(await this.#acquire(signal))) return;
      this.#leading = true;
      this.#setLeader(true);
      this.#log.info({}, 'became leader');
      const work = new AbortController();
      let done: Promise<void> = Promise.resolve();
      try {
        done = Promise.resolve(this.#o.callbacks.onStartedLeading(work.signal)).catch((err: unknown) => {
          this.#log.error({ err: errorText(err) }, 'leader work failed');
        });
      } catch (err) {
        this.#log.error({ err: errorText(err) }, 'onStartedLeading threw');
      }
      const lost = await this.#renewLoop(signal);
      this.#leading = false;
      work.abort();
      if (lost) this.#log.warn({ renewDeadlineMs: this.#o.renewDeadlineMs }, 'leadership lost: no renewal within the deadline');
      await done;
      if (!lost && this.#o.releaseOnCancel) await this.#release();
      this.#log.info({ lost }, 'stopped leading');
      this.#o.callbacks.onStoppedLeading();
    } finally {
      this.#setLeader(false);
      this.#leading = false;
      this.#running = false;
    }
  }

  /** Tries until the lease is ours; false if signal aborted first. */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    const period = this.#o.retryPeriodMs;
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew(signal)) return true;
      // client-go's JitterUntil with factor 1.2: wait period .. 2.2 * period.
      if (!(await sleep(this.#clock, period + period * 1.2 * this.#random(), signal))) break;
    }
    return false;
  }

  /** Renews every retryPeriod. Resolves true when leadership was lost, false on signal. */
  async #renewLoop(signal: AbortSignal): Promise<boolean> {
    const { retryPeriodMs, renewDeadlineMs } = this.#o;
    while (!signal.aborted) {
      if (!(await sleep(this.#clock, retryPeriodMs, signal))) return false;
      // One round: retry until a renewal succeeds or renewDeadline passes. The round's
      // signal also aborts a request still in flight at the deadline.
      const round = new AbortController();
      const onAbort = (): void => round.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = this.#clock.setTimer(() => round.abort(), renewDeadlineMs);
      let renewed = false;
      try {
        while (!round.signal.aborted) {
          if (await this.#tryAcquireOrRenew(round.signal)) {
            renewed = true;
            break;
          }
          await sleep(this.#clock, retryPeriodMs, round.signal);
        }
      } finally {
        timer.cancel();
        signal.removeEventListener('abort', onAbort);
      }
      if (signal.aborted) return false;
      if (!renewed) return true;
    }
    return false;
  }

  /** One read-decide-write. True if we hold the lease after it. Never throws. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { client, namespace, name, identity, leaseDurationMs } = this.#o;
    const path = objectPath(LEASES, namespace, name);
    const now = this.#clock.now();
    let lease: LeaseObject;
    try {
      lease = await client.request<LeaseObject>({ method: 'GET', path, signal });
    } catch (err) {
      if (!isNotFound(err)) {
        this.#log.warn({ err: errorText(err) }, 'reading the lease failed');
        return false;
      }
      return this.#write('POST', collectionPath(LEASES, namespace), {
        apiVersion: apiVersionOf(LEASES),
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { ...initialRecord(identity, now, leaseDurationMs) },
      }, signal);
    }
    this.#lease = lease;
    this.#obs = observe(this.#obs, recordFromLease(lease), now);
    this.#report();
    const d = decide(this.#obs, identity, now, leaseDurationMs);
    if (d.kind === 'held') return false;
    return this.#write('PUT', path, leaseWithRecord(lease, d.record), signal);
  }

  /** Creates or updates the lease; on success it is our newest observation. */
  async #write(method: 'POST' | 'PUT', path: string, body: LeaseObject, signal: AbortSignal): Promise<boolean> {
    try {
      const written = await this.#o.client.request<LeaseObject>({ method, path, body, signal });
      this.#lease = written;
      this.#obs = { record: recordFromLease(written), observedAt: this.#clock.now() };
      this.#report();
      return true;
    } catch (err) {
      // 409: another candidate wrote first (or the lease was created meanwhile).
      if (isConflict(err)) this.#log.debug({}, 'lease changed under us; will retry');
      else this.#log.warn({ err: errorText(err), method }, 'writing the lease failed');
      return false;
    }
  }

  /** Clears the holder if we still hold the lease by our last write. Never throws. */
  async #release(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined || this.#obs?.record.holderIdentity !== this.#o.identity) return;
    const ac = new AbortController();
    const timer = this.#clock.setTimer(() => ac.abort(), this.#o.renewDeadlineMs);
    try {
      const path = objectPath(LEASES, this.#o.namespace, this.#o.name);
      const body = leaseWithRecord(lease, releasedRecord(this.#obs.record, this.#clock.now()));
      const written = await this.#o.client.request<LeaseObject>({ method: 'PUT', path, body, signal: ac.signal });
      this.#lease = written;
      this.#obs = { record: recordFromLease(written), observedAt: this.#clock.now() };
      this.#log.info({}, 'released the lease');
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'releasing the lease failed; it will expire');
    } finally {
      timer.cancel();
    }
  }

  #report(): void {
    const holder = this.#obs?.record.holderIdentity ?? '';
    if (holder === '' || holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    this.#log.info({ leader: holder }, 'new leader observed');
    try {
      this.#o.callbacks.onNewLeader?.(holder);
    } catch (err) {
      this.#log.error({ err: errorText(err) }, 'onNewLeader threw');
    }
  }
}
