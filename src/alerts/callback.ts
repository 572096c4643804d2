// Alerts to a trap's HTTP callback: one JSON POST per alert, as the design describes.
//
// Delivery never blocks the event path: each callback URL has its own bounded queue and a
// few requests in flight. A failed request (network error, timeout, 429 or 5xx) is retried
// with exponential backoff a few times; 4xx other than 429 is final. Every alert ends as
// delivered, failed or dropped (queue full), each counted and each logged (rate-limited).

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

export interface CallbackStats {
  delivered: number;
  failed: number;
  dropped: number;
}

interface Target {
  queue: string[];
  inFlight: number;
  lastWarn: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

  /** Queues an alert (serialized JSON) for `url`. Never throws; a full queue drops and counts. */
  send(url: string, body: string): void {
    if (this.#closed) return;
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
    while (t.inFlight < this.#concurrency && t.queue.length > 0) {
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
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      try {
        const res = await this.#fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        await res.body?.cancel().catch(() => {});
        if (res.ok) {
          this.stats.delivered++;
          return;
        }
        lastError = `HTTP ${res.status}`;
        if (res.status !== 429 && res.status < 500) break; // the receiver refuses it: final
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (attempt < this.#maxAttempts && !this.#closed) await sleep(this.#baseBackoffMs * 2 ** (attempt - 1));
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

  /** Stops accepting alerts; waits up to `graceMs` for those already queued. */
  async close(graceMs = 2_000): Promise<void> {
    this.#closed = true;
    await Promise.race([this.drain(), sleep(graceMs)]);
  }
}
