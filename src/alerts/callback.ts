// Alerts to a trap's HTTP callback: one JSON POST per alert, delivered at least once.
//
// - Retries: network errors, timeouts, 429 and 5xx are retried with exponential backoff
//   and full jitter (Retry-After honoured) until the alert is `retryForMs` old (default
//   10 min, enough to ride out a 5-minute outage); other 4xx are final.
// - One bounded queue for the whole process (entries and bytes, in flight included),
//   shared fairly: when it is full, a destination below its share takes the place of the
//   oldest alert of the destination that holds the most. One dead endpoint can neither
//   delay stdout (nothing here blocks) nor starve the other destinations.
// - Each alert's `alert-id` (alert-id.ts) is its Idempotency-Key; with a secret, the
//   exact body is signed: `X-Kive-Signature: sha256=<hex HMAC-SHA256>` (docs/alerts.md).
// - Every alert ends as delivered, failed, dropped or spooled, counted per destination.
//   Drops and failures are logged with their own rate limits, never a shared one, with
//   exact counts. URLs are logged without credentials or query.
// - With a spool (spool.ts), every queued alert also has a file, removed at its final
//   outcome; at start the sink re-queues what a previous process left there, through the
//   same bound as new alerts (the overflow is dropped and counted).
//
// Shutdown is bounded: close(graceMs) stops intake and lets queued alerts go out (with
// their backoff) until the grace period ends; then every request still in flight is
// aborted, and everything still pending counts as spooled if its file is on disk (the
// next start delivers it), else as failed.

import { createHmac } from 'node:crypto';
import { alertIdOf } from './alert-id.ts';
import type { TrapContext } from './build.ts';
import { describeError, HttpTransport, retryAfterMs, type PostOptions, type PostResult } from './http-post.ts';
import { secondsSince, type AlertSink, type LatencyObserver, type SinkFactory, type SinkOutcomes } from './sink.ts';
import type { Spool, SpoolHandle } from './spool.ts';
import { realClock, sleep } from '../k8s/clock.ts';
import { CALLBACK_DEFAULTS, type CallbackOptions } from './callback-options.ts';

export { CALLBACK_DEFAULTS, type CallbackLogger, type CallbackOptions } from './callback-options.ts';

interface Entry {
  body: string;
  id: string;
  bytes: number;
  /** AlertSink.push's origin, for the latency. */
  originNs: bigint;
  /** Its spool file, with a spool. */
  file?: SpoolHandle;
}

interface Target {
  url: URL | undefined;
  safe: string;
  queue: Entry[];
  inFlight: number;
  /** Bytes of this destination's alerts queued or in flight. */
  bytes: number;
  stats: SinkOutcomes;
  lastFailWarn: number;
  lastDropWarn: number;
  /** Drops not logged yet. */
  unloggedDrops: number;
}

/** The URL as logs may show it: no user, password or query. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
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

export class CallbackSink implements AlertSink {
  readonly name = 'callbacks';
  given = 0;
  readonly #o: Required<Omit<CallbackOptions, 'secret' | 'ca' | 'log' | 'latency' | 'spool'>> & Pick<CallbackOptions, 'secret' | 'ca' | 'log' | 'latency' | 'spool'>;
  readonly #targets = new Map<string, Target>();
  readonly #idle = new Set<() => void>();
  #entries = 0;
  #bytes = 0;
  #closed = false;
  /** Aborted when the shutdown grace period ends: cancels requests and backoff sleeps. */
  readonly #giveUp = new AbortController();
  /** Alerts whose delivery shutdown cut off: spooled or failed at close. */
  readonly #cutOff: Array<{ t: Target; entry: Entry }> = [];
  readonly outcomes: SinkOutcomes = { delivered: 0, failed: 0, dropped: 0, spooled: 0 };

  /** The default transport's keep-alive connections; closed with the sink. */
  readonly #transport: HttpTransport | undefined;

  constructor(options: CallbackOptions = {}) {
    const o = { ...CALLBACK_DEFAULTS, warnEveryMs: 10_000, random: Math.random, ...options };
    this.#transport = o.post === undefined ? new HttpTransport(o.concurrencyPerUrl) : undefined;
    this.#o = { ...o, post: o.post ?? (this.#transport as HttpTransport).post };
    const spool = this.#o.spool;
    if (spool) {
      // Oldest first, through the same bound as new alerts, with the body and id it had:
      // the receiver sees the same Idempotency-Key and de-duplicates. A URL no policy
      // names any more still gets its alert: the access happened.
      const backlog = spool.takeBacklog();
      const before = { ...this.outcomes };
      // Their latency counts from now: their origin was in another process.
      for (const a of backlog) this.#enqueue(a.url, a.body, a.id, process.hrtime.bigint(), a.handle);
      if (backlog.length > 0) {
        this.#o.log?.info?.(
          { dir: spool.dir, alerts: backlog.length, dropped: this.outcomes.dropped - before.dropped, failed: this.outcomes.failed - before.failed },
          'callback spool: alerts of an earlier run queued again',
        );
      }
    }
  }

  takes(trap: TrapContext | null): boolean {
    return trap !== null && trap.callback !== undefined && trap.callback !== '';
  }

  /** One POST per distinct URL among `traps` (two traps with one receiver: one POST). */
  push(line: string, traps: readonly TrapContext[], originNs?: bigint): void {
    if (traps.length === 1) {
      if (traps[0]!.callback) this.send(traps[0]!.callback, line, originNs);
      return;
    }
    const urls = new Set<string>();
    for (const t of traps) if (t.callback) urls.add(t.callback);
    for (const url of urls) this.send(url, line, originNs);
  }

  flush(): void {}

  /** Alerts queued or in flight, and their bytes, all destinations together. */
  get queued(): { entries: number; bytes: number } {
    return { entries: this.#entries, bytes: this.#bytes };
  }

  /** Outcomes per destination (URLs without credentials or query). */
  perDestination(): Record<string, SinkOutcomes> {
    return Object.fromEntries([...this.#targets.values()].map((t) => [t.safe, { ...t.stats }]));
  }

  /**
   * Alerts queued or in flight and their bytes, per destination as logs name it (URLs
   * that differ only in credentials or query are one destination). Read by /metrics.
   */
  queuedPerDestination(): Map<string, { entries: number; bytes: number }> {
    const out = new Map<string, { entries: number; bytes: number }>();
    for (const t of this.#targets.values()) {
      const q = out.get(t.safe) ?? { entries: 0, bytes: 0 };
      q.entries += t.queue.length + t.inFlight;
      q.bytes += t.bytes;
      out.set(t.safe, q);
    }
    return out;
  }

  /** Queues an alert (serialized JSON) for `url`. Never throws; a full queue drops and counts. */
  send(url: string, body: string, originNs: bigint = process.hrtime.bigint()): void {
    this.#enqueue(url, body, alertIdOf(body) ?? crypto.randomUUID(), originNs, undefined);
  }

  /** `file`: the alert's spool file when it comes from the spool's backlog. */
  #enqueue(url: string, body: string, id: string, originNs: bigint, file: SpoolHandle | undefined): void {
    this.given++;
    const t = this.#target(url);
    const entry: Entry = { body, id, bytes: Buffer.byteLength(body), originNs };
    if (file) entry.file = file;
    const refused = this.#closed ? 'dropped' : t.url === undefined ? 'failed' : this.#makeRoom(t, entry.bytes) ? undefined : 'full';
    if (refused !== undefined) {
      this.#forget(entry); // a backlog alert's file goes with it
      if (refused === 'full') return this.#drop(t);
      this.#count(t, refused);
      if (refused === 'failed') this.#warnFail(t, { error: 'not an http(s) URL without credentials' });
      return;
    }
    // Written only once it has its place in the queue: a dropped alert costs no disk work.
    const spool = this.#o.spool;
    if (spool) entry.file ??= spool.add(url, id, body);
    t.queue.push(entry);
    this.#entries++;
    this.#bytes += entry.bytes;
    t.bytes += entry.bytes;
    this.#pump(t);
  }

  #target(url: string): Target {
    let t = this.#targets.get(url);
    if (t === undefined) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url);
        if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username !== '' || parsed.password !== '') parsed = undefined;
      } catch {
        parsed = undefined;
      }
      t = { url: parsed, safe: safeUrl(url), queue: [], inFlight: 0, bytes: 0, stats: { delivered: 0, failed: 0, dropped: 0, spooled: 0 }, lastFailWarn: 0, lastDropWarn: 0, unloggedDrops: 0 };
      this.#targets.set(url, t);
    }
    return t;
  }

  /** Room for `bytes` more, taken from the destination holding the most if `t` is below it. */
  #makeRoom(t: Target, bytes: number): boolean {
    const { maxQueued, maxQueuedBytes } = this.#o;
    if (bytes > maxQueuedBytes) return false;
    while (this.#entries + 1 > maxQueued || this.#bytes + bytes > maxQueuedBytes) {
      const holds = (o: Target) => o.queue.length + o.inFlight;
      let biggest: Target | undefined;
      for (const o of this.#targets.values()) if (o.queue.length > 0 && (biggest === undefined || holds(o) > holds(biggest))) biggest = o;
      // Fair: evict only while the biggest holds more than `t` will, so shares even out.
      if (biggest === undefined || biggest === t || holds(biggest) <= holds(t) + 1) return false;
      const old = biggest.queue.shift() as Entry;
      this.#entries--;
      this.#bytes -= old.bytes;
      biggest.bytes -= old.bytes;
      this.#forget(old);
      this.#drop(biggest);
    }
    return true;
  }

  #count(t: Target, what: keyof SinkOutcomes): void {
    t.stats[what] = (t.stats[what] ?? 0) + 1;
    this.outcomes[what] = (this.outcomes[what] ?? 0) + 1;
  }

  /** A final outcome: the alert's spool file goes. */
  #forget(entry: Entry): void {
    if (entry.file) this.#o.spool?.remove(entry.file);
  }

  #drop(t: Target): void {
    this.#count(t, 'dropped');
    t.unloggedDrops++;
    const now = Date.now();
    if (now - t.lastDropWarn < this.#o.warnEveryMs) return;
    t.lastDropWarn = now;
    this.#o.log?.warn(
      { url: t.safe, dropped: t.unloggedDrops, droppedTotal: t.stats.dropped, queued: this.#entries, queuedBytes: this.#bytes, maxQueued: this.#o.maxQueued, maxQueuedBytes: this.#o.maxQueuedBytes },
      'callback queue full: alerts dropped',
    );
    t.unloggedDrops = 0;
  }

  #warnFail(t: Target, fields: object): void {
    const now = Date.now();
    if (now - t.lastFailWarn < this.#o.warnEveryMs) return;
    t.lastFailWarn = now;
    this.#o.log?.warn({ url: t.safe, ...fields, failedTotal: t.stats.failed }, 'callback delivery failed');
  }

  #pump(t: Target): void {
    while (t.inFlight < this.#o.concurrencyPerUrl && t.queue.length > 0 && !this.#giveUp.signal.aborted) {
      const entry = t.queue.shift() as Entry;
      t.inFlight++;
      void this.#deliver(t, entry).finally(() => {
        t.inFlight--;
        this.#entries--;
        this.#bytes -= entry.bytes;
        t.bytes -= entry.bytes;
        this.#pump(t);
        if (this.#isIdle()) for (const resolve of this.#idle) resolve();
      });
    }
  }

  #headers(entry: Entry): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': entry.id, 'user-agent': 'kive' };
    if (this.#o.secret) h['x-kive-signature'] = `sha256=${createHmac('sha256', this.#o.secret).update(entry.body).digest('hex')}`;
    return h;
  }

  async #deliver(t: Target, entry: Entry): Promise<void> {
    const o = this.#o;
    const giveUp = this.#giveUp.signal;
    const start = Date.now();
    const headers = this.#headers(entry);
    let last: { code: string; cause: string } = { code: '', cause: '' };
    for (let attempt = 1; !giveUp.aborted; attempt++) {
      let wait: number | undefined;
      try {
        const res = await abortable(
          o.post(t.url as URL, entry.body, {
            headers,
            ...(o.ca !== undefined ? { ca: o.ca } : {}),
            connectTimeoutMs: o.connectTimeoutMs,
            responseTimeoutMs: o.timeoutMs,
            signal: giveUp,
          }),
          giveUp,
        );
        if (res.status >= 200 && res.status < 300) {
          this.#forget(entry);
          this.#count(t, 'delivered');
          o.latency?.(secondsSince(entry.originNs));
          return;
        }
        last = { code: `HTTP ${res.status}`, cause: 'the receiver answered with an error' };
        if (res.status !== 429 && res.status < 500) break; // the receiver refuses it: final
        wait = retryAfterMs(res.retryAfter, Date.now());
      } catch (err) {
        last = giveUp.aborted ? { code: 'SHUTDOWN', cause: 'shutdown time ran out' } : describeError(err);
      }
      // Full jitter: retries of many alerts after one outage do not arrive in lockstep.
      const backoff = Math.min(o.maxBackoffMs, o.baseBackoffMs * 2 ** Math.min(attempt - 1, 30)) * o.random();
      const delay = Math.max(wait ?? 0, backoff);
      if (Date.now() + delay - start > o.retryForMs) break;
      await sleep(realClock, delay, giveUp);
    }
    if (giveUp.aborted) {
      // Cut off by shutdown, not given up on: close() decides (spooled or failed).
      this.#cutOff.push({ t, entry });
      return;
    }
    this.#forget(entry);
    this.#count(t, 'failed');
    this.#warnFail(t, { error: last.code, cause: last.cause, retriedForMs: Date.now() - start });
  }

  #isIdle(): boolean {
    return this.#entries === 0;
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
   * flight and resolves once nothing is running. What is still pending then counts as
   * spooled when its spool file is on disk (after at most `spoolSettleMs` more for writes
   * under way), else as failed.
   */
  async close(graceMs = 2_000): Promise<SinkOutcomes> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.drain(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const spool = this.#o.spool;
    // One budget for the spool's pending writes and removals, whatever path close takes.
    const settleBy = Date.now() + this.#o.spoolSettleMs;
    if (!this.#isIdle()) {
      this.#giveUp.abort();
      let queued = 0;
      for (const t of this.#targets.values()) {
        for (const entry of t.queue) {
          this.#cutOff.push({ t, entry });
          this.#entries--;
          this.#bytes -= entry.bytes;
          t.bytes -= entry.bytes;
        }
        queued += t.queue.length;
        t.queue = [];
      }
      const inFlight = [...this.#targets.values()].reduce((n, t) => n + t.inFlight, 0);
      await this.drain();
      if (spool) await spool.settle(Math.max(0, settleBy - Date.now()));
      let spooled = 0;
      let failed = 0;
      for (const { t, entry } of this.#cutOff.splice(0)) {
        const kept = spool !== undefined && entry.file !== undefined && spool.isKept(entry.file);
        if (!kept) this.#forget(entry);
        this.#count(t, kept ? 'spooled' : 'failed');
        if (kept) spooled++;
        else failed++;
      }
      this.#o.log?.warn(
        { queued, inFlight, graceMs, spooled, failed, ...(spool ? { spoolDir: spool.dir } : {}) },
        spool ? 'callback: shutdown time ran out; undelivered alerts kept in the spool for the next start' : 'callback: shutdown time ran out; undelivered alerts counted as failed',
      );
    }
    // Idle keep-alive sockets go too: nothing of the sink may keep the process up.
    this.#transport?.close();
    await spool?.close(Math.max(0, settleBy - Date.now()));
    for (const t of this.#targets.values()) {
      if (t.unloggedDrops > 0) this.#o.log?.warn({ url: t.safe, dropped: t.unloggedDrops, droppedTotal: t.stats.dropped }, 'callback queue full: alerts dropped');
      t.unloggedDrops = 0;
    }
    if (this.#targets.size > 0) this.#o.log?.info?.({ destinations: this.perDestination() }, 'callbacks: outcomes per destination');
    return { ...this.outcomes };
  }
}

export const callbackSinkFactory: SinkFactory = (ctx) =>
  new CallbackSink({ log: ctx.log, ...(ctx.deliveryLatency !== undefined ? { latency: ctx.deliveryLatency('callbacks') } : {}), ...ctx.callback });
