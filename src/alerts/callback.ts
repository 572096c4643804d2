// Alerts to a trap's HTTP callback: one JSON POST per alert, as the design describes.
//
// Delivery never blocks the event path: each callback URL has its own bounded queue and a
// few requests in flight. A failed request (network error, timeout, 429 or 5xx) is retried
// with exponential backoff a few times; 4xx other than 429 is final. Every alert ends as
// delivered, failed or dropped (queue full), each counted and each logged (rate-limited).
//
// Shutdown is bounded: close(graceMs) stops intake and lets queued alerts go out (with
// their backoff) until the grace period ends; then every request still in flight is
// aborted and everything still queued counts as failed. A receiver that never answers
// cannot keep the process alive.

import type { SinkOutcomes } from './sink.ts';

export interface CallbackLogger {
  warn(obj: object, msg: string): void;
}

export interface CallbackOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxQueuePerUrl?: number;
  concurrencyPerUrl?: number;
  log?: CallbackLogger;
  /** Minimum time between two warnings about the same URL. */
  warnEveryMs?: number;
}

export type CallbackStats = SinkOutcomes;

interface Target {
  queue: string[];
  inFlight: number;
  lastWarn: number;
}

/** `p`, or a rejection as soon as `signal` aborts (even if whatever `p` waits on ignores it). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Waits `ms`, or less if `signal` aborts first. */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class CallbackSink {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseBackoffMs: number;
  readonly #maxQueue: number;
  readonly #concurrency: number;
  readonly #log: CallbackLogger | undefined;
  readonly #warnEveryMs: number;
  readonly #targets = new Map<string, Target>();
  readonly #idle = new Set<() => void>();
  #closed = false;
  #sent = 0;
  /** Aborted when the shutdown grace period ends: cancels requests and backoff sleeps. */
  readonly #giveUp = new AbortController();
  readonly stats: CallbackStats = { delivered: 0, failed: 0, dropped: 0 };

  constructor(options: CallbackOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#baseBackoffMs = options.baseBackoffMs ?? 200;
    this.#maxQueue = options.maxQueuePerUrl ?? 10_000;
    this.#concurrency = options.concurrencyPerUrl ?? 4;
    this.#log = options.log;
    this.#warnEveryMs = options.warnEveryMs ?? 10_000;
  }

  /** Alerts handed to send(); once closed, equal to the sum of `stats`. */
  get sent(): number {
    return this.#sent;
  }

  /** Queues an alert (serialized JSON) for `url`. Never throws; a full queue drops and counts. */
  send(url: string, body: string): void {
    this.#sent++;
    if (this.#closed) {
      this.stats.dropped++;
      return;
    }
    let t = this.#targets.get(url);
    if (t === undefined) {
      t = { queue: [], inFlight: 0, lastWarn: 0 };
      this.#targets.set(url, t);
    }
    if (t.queue.length >= this.#maxQueue) {
      this.stats.dropped++;
      this.#warn(url, t, { dropped: this.stats.dropped }, 'callback queue full, alert dropped');
      return;
    }
    t.queue.push(body);
    this.#pump(url, t);
  }

  #pump(url: string, t: Target): void {
    while (t.inFlight < this.#concurrency && t.queue.length > 0 && !this.#giveUp.signal.aborted) {
      const body = t.queue.shift() as string;
      t.inFlight++;
      void this.#deliver(url, t, body).finally(() => {
        t.inFlight--;
        this.#pump(url, t);
        if (this.#isIdle()) for (const resolve of this.#idle) resolve();
      });
    }
  }

  async #deliver(url: string, t: Target, body: string): Promise<void> {
    let lastError = '';
    const giveUp = this.#giveUp.signal;
    for (let attempt = 1; attempt <= this.#maxAttempts && !giveUp.aborted; attempt++) {
      try {
        const res = await abortable(
          this.#fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), giveUp]),
          }),
          giveUp,
        );
        await res.body?.cancel().catch(() => {});
        if (res.ok) {
          this.stats.delivered++;
          return;
        }
        lastError = `HTTP ${res.status}`;
        if (res.status !== 429 && res.status < 500) break; // the receiver refuses it: final
      } catch (err) {
        lastError = giveUp.aborted ? 'shutdown time ran out' : (err as Error).message;
      }
      if (attempt < this.#maxAttempts) await sleepUnless(this.#baseBackoffMs * 2 ** (attempt - 1), giveUp);
    }
    this.stats.failed++;
    this.#warn(url, t, { error: lastError, failed: this.stats.failed }, 'callback delivery failed');
  }

  #warn(url: string, t: Target, fields: object, msg: string): void {
    const now = Date.now();
    if (now - t.lastWarn < this.#warnEveryMs) return;
    t.lastWarn = now;
    this.#log?.warn({ url, ...fields }, msg);
  }

  #isIdle(): boolean {
    for (const t of this.#targets.values()) if (t.inFlight > 0 || t.queue.length > 0) return false;
    return true;
  }

  /** Resolves when every queued alert has been delivered or has failed. */
  async drain(): Promise<void> {
    if (this.#isIdle()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#idle.delete(done);
        resolve();
      };
      this.#idle.add(done);
    });
  }

  /**
   * Stops accepting alerts and gives queued ones up to `graceMs`; then aborts what is in
   * flight, counts what is still queued as failed, and resolves once nothing is running.
   * Resolves within `graceMs` plus the time aborted requests take to settle (immediate).
   */
  async close(graceMs = 2_000): Promise<SinkOutcomes> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.drain(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (!this.#isIdle()) {
      this.#giveUp.abort();
      let abandoned = 0;
      for (const t of this.#targets.values()) {
        abandoned += t.queue.length;
        t.queue = [];
      }
      this.stats.failed += abandoned;
      const inFlight = [...this.#targets.values()].reduce((n, t) => n + t.inFlight, 0);
      this.#log?.warn({ queued: abandoned, inFlight, graceMs }, 'callback: shutdown time ran out; undelivered alerts counted as failed');
      await this.drain();
    }
    return { ...this.stats };
  }
}
