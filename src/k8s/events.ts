// Kubernetes Events (core/v1), recorded the way client-go's tools/record does it, so a
// noisy source cannot flood etcd:
//  - aggregation: the same (object, type, reason, message) again updates the existing
//    Event's count and lastTimestamp instead of creating a new one;
//  - rate limiting: a token bucket per involved object (burst 25, then one per 5 min,
//    client-go's spam filter defaults); what it refuses is counted in `dropped`;
//  - bounded memory: the aggregation cache keeps the newest 4096 keys.
// Each record() ends in one outcome (`created`, `aggregated`, `rate-limited`, `failed`),
// counted here and, if asked, reported to the caller; the message may be a function,
// called only once the rate limit has let the Event through (hot callers pay nothing
// for what is refused).
// Recording never throws and never blocks the caller: writes run in the background,
// one at a time per key, and a failure is logged (and counted) once per write.
// Generic: knows nothing of Kive's kinds.

import { realClock, type Clock } from './clock.ts';
import { defaultLogger, type Logger } from './log.ts';
import { errorText, isNotFound, type Requester } from './rest.ts';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for cluster-scoped objects; their Events go to `default`. */
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

/** What became of one record(): a new Event, a count raised, refused by the rate limit, or a write that failed. */
export type RecordOutcome = 'created' | 'aggregated' | 'rate-limited' | 'failed';

export interface EventRecorderOptions {
  client: Requester;
  /** source.component and reportingController, e.g. `kive`. */
  component: string;
  /** source.host, e.g. the node name. */
  host?: string;
  burst?: number;
  /** Milliseconds per token after the burst (default 300000). */
  refillMs?: number;
  cacheSize?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Aggregate {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  /** The write in flight or last done for this key: the next one waits for it. */
  last: Promise<void>;
}

const MAX_MESSAGE = 1024;

export class EventRecorder {
  readonly #o: Required<Omit<EventRecorderOptions, 'host' | 'clock' | 'logger'>> & { host?: string };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #cache = new Map<string, Aggregate>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #pending = new Set<Promise<void>>();
  /** Events the rate limit refused. */
  dropped = 0;
  /** Writes the API server refused or did not answer. */
  failed = 0;
  /** New Events written. */
  created = 0;
  /** Repeats written as a raised count on an existing Event. */
  aggregated = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = { burst: 25, refillMs: 300_000, cacheSize: 4096, ...opts };
    this.#clock = opts.clock ?? realClock;
    this.#log = (opts.logger ?? defaultLogger()).child({ component: 'events' });
  }

  /**
   * Records an Event on `obj` in the background. `message` may be a function, called only
   * when the rate limit lets the Event through; `done` is told the outcome (at once for
   * `rate-limited`, after the write otherwise). Never throws.
   */
  record(obj: ObjectReference, type: EventType, reason: string, message: string | (() => string), done?: (outcome: RecordOutcome) => void): void {
    const objKey = `${obj.apiVersion}/${obj.kind}/${obj.namespace ?? ''}/${obj.name}/${obj.uid ?? ''}`;
    if (!this.#take(objKey)) {
      this.dropped++;
      done?.('rate-limited');
      return;
    }
    const text = typeof message === 'string' ? message : message();
    const msg = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 3)}...` : text;
    const key = `${objKey}\0${type}\0${reason}\0${msg}`;
    const now = new Date(this.#clock.now()).toISOString();
    let agg = this.#cache.get(key);
    if (agg) {
      this.#cache.delete(key); // re-insert: Map order is the LRU order
      agg.count++;
    } else {
      const suffix = `${this.#clock.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      agg = { name: `${obj.name.slice(0, 200)}.${suffix}`, namespace: obj.namespace ?? 'default', count: 1, firstTimestamp: now, last: Promise.resolve() };
      if (this.#cache.size >= this.#o.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(key, agg);
    const a = agg;
    const count = a.count;
    const write = a.last.then(() => this.#write(a, obj, type, reason, msg, count, now)).then((outcome) => {
      this[outcome]++;
      done?.(outcome);
    });
    a.last = write;
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }

  /** Waits for the writes started so far (tests; shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  #take(objKey: string): boolean {
    const now = this.#clock.now();
    const b = this.#buckets.get(objKey) ?? { tokens: this.#o.burst, at: now };
    b.tokens = Math.min(this.#o.burst, b.tokens + (now - b.at) / this.#o.refillMs);
    b.at = now;
    this.#buckets.delete(objKey);
    if (this.#buckets.size >= this.#o.cacheSize) this.#buckets.delete(this.#buckets.keys().next().value!);
    this.#buckets.set(objKey, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  async #write(a: Aggregate, obj: ObjectReference, type: EventType, reason: string, message: string, count: number, now: string): Promise<'created' | 'aggregated' | 'failed'> {
    const path = `/api/v1/namespaces/${encodeURIComponent(a.namespace)}/events`;
    try {
      if (count > 1) {
        try {
          await this.#o.client.request({ method: 'PATCH', path: `${path}/${a.name}`, contentType: 'application/merge-patch+json', body: { count, lastTimestamp: now } });
          return 'aggregated';
        } catch (err) {
          if (!isNotFound(err)) throw err; // expired (the API server's event TTL): create it anew
        }
      }
      const { uid, ...ref } = obj;
      await this.#o.client.request({
        method: 'POST',
        path,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: a.name, namespace: a.namespace },
          involvedObject: { ...ref, namespace: a.namespace, ...(uid ? { uid } : {}) },
          type,
          reason,
          message,
          count,
          firstTimestamp: a.firstTimestamp,
          lastTimestamp: now,
          source: { component: this.#o.component, ...(this.#o.host ? { host: this.#o.host } : {}) },
          reportingComponent: this.#o.component,
          ...(this.#o.host ? { reportingInstance: this.#o.host } : {}),
        },
      });
      return 'created';
    } catch (err) {
      this.#log.warn({ reason, object: `${obj.kind} ${a.namespace}/${obj.name}`, err: errorText(err) }, 'could not record a Kubernetes Event');
      return 'failed';
    }
  }
}
