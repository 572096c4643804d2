// A work queue of object keys with client-go's semantics, which are what make
// level-based reconcilers safe to run with several workers:
//
//   - de-duplication: a key waiting in the queue is queued once however often it is added;
//   - exclusion: a key handed to a worker is never handed to another one until done();
//   - no lost updates: a key added while it is being processed is marked dirty and queued
//     again by done(), so the reconciler runs once more and sees the newest state;
//   - delays: addAfter() queues a key later (the earliest pending time wins);
//     addRateLimited() delays by a per-key exponential backoff that forget() resets.
//
// One deliberate difference from client-go: after shutDown() get() hands out nothing
// more, even if keys are still queued, so that a controller that loses its leader lease
// stops starting reconciles at once. Keys are strings ("namespace/name" or "name").

import { realClock, type Clock, type Timer } from './clock.ts';
import { exponentialDelay } from './backoff.ts';

/** Decides how long a key waits before its next retry. */
export interface RateLimiter {
  /** Delay for this key's next retry; counts one more failure. */
  when(key: string): number;
  /** Forgets the key's failures (after a success or a terminal error). */
  forget(key: string): void;
  /** Failures counted for the key since the last forget(). */
  numRequeues(key: string): number;
}

/**
 * client-go's per-item exponential limiter: baseMs * 2^failures, capped at maxMs.
 * The defaults (5 ms to 1000 s) are client-go's controller defaults.
 */
export class ExponentialRateLimiter implements RateLimiter {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #failures = new Map<string, number>();

  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  when(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    return exponentialDelay(n, this.#baseMs, this.#maxMs);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
}

/**
 * The queue. It owns its delay timers; shutDown() cancels them, so a queue that was
 * shut down holds no timers and keeps no event loop alive.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  /** Keys ready to be handed out, in order. Every key here is also in #dirty. */
  readonly #queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing). */
  readonly #dirty = new Set<string>();
  /** Keys handed to a worker and not yet done(). */
  readonly #processing = new Set<string>();
  /** Keys waiting for addAfter(): when they become ready and the timer that adds them. */
  readonly #delayed = new Map<string, { at: number; timer: Timer }>();
  /** Workers blocked in get(). */
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  /** Resolvers of shutDownWithDrain(), called when #processing empties. */
  readonly #drainWaiters: Array<() => void> = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#clock = opts.clock ?? realClock;
    this.#limiter = opts.rateLimiter ?? new ExponentialRateLimiter();
  }

  /** Queues key unless it is already queued; a key being processed is re-run after. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // done() will queue it
    this.#queue.push(key);
    this.#dispatch();
  }

  /**
   * Queues key after ms. If the key is already waiting to be added earlier, that earlier
   * time stands; a sooner time replaces a later one.
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      pending.timer.cancel();
    }
    const timer = this.#clock.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Queues key after the rate limiter's delay for it (its backoff grows per call). */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets key's backoff. Does not remove it from the queue. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * The next key to process, which the caller must pass to done() when finished; waits
   * while the queue is empty. Resolves undefined once the queue is shut down.
   */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#dispatch();
    });
  }

  /** Ends processing of key; if it was added meanwhile it is queued again now. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key)) {
      if (this.#shuttingDown) this.#dirty.delete(key);
      else {
        this.#queue.push(key);
        this.#dispatch();
      }
    }
    if (this.#processing.size === 0) for (const r of this.#drainWaiters.splice(0)) r();
  }

  /** Keys queued and ready (neither delayed nor being processed). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys waiting for addAfter() / addRateLimited(). */
  delayedLen(): number {
    return this.#delayed.size;
  }

  isProcessing(key: string): boolean {
    return this.#processing.has(key);
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops the queue: adds are ignored, delay timers are cancelled, every get() resolves
   * undefined. Keys being processed may still call done(). Idempotent.
   */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) timer.cancel();
    this.#delayed.clear();
    this.#queue.length = 0;
    for (const k of [...this.#dirty]) if (!this.#processing.has(k)) this.#dirty.delete(k);
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  /** shutDown(), then waits until every key handed out has been passed to done(). */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Hands queued keys to waiting workers, marking them as processing. */
  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      const waiter = this.#waiters.shift() as (key: string | undefined) => void;
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    }
  }
}
