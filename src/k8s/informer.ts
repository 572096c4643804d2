// A supervised list-and-watch cache of one resource, after client-go's reflector.
//
// Why not client-node's ListWatch: it restarts itself only after 410 Gone and stops for
// good on any other watch error (a restarted API server, a reset connection), and its
// list results are deserialized models (Date objects) while its watch events are plain
// JSON. This informer uses client-node's `Watch` class for the streaming request (its
// transport, authentication and inactivity timer) and KubeClient for the LIST, so every
// cached object is plain JSON, and it owns the loop around them:
//
//   LIST (paged) -> replace the store -> WATCH from the list's resourceVersion
//     event      -> update the store, call handlers, remember its resourceVersion
//     410 Gone   -> LIST again at once (our resourceVersion was compacted away)
//     error/end  -> wait (exponential, capped, jittered; reset after a healthy watch),
//                   then WATCH again from the last resourceVersion seen
//
// Watches ask for a server-side timeout shorter than the Watch class's 30 s inactivity
// timer, with bookmarks, so that a quiet watch ends cleanly rather than by that timer.
//
// Ownership: start() starts one loop and, with a resync period, one timer; stop() ends
// both and closes the open watch. The informer never closes the KubeClient.

import { Watch } from '@kubernetes/client-node';
import { KiveError } from '../errors.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { realClock, sleep, type Clock, type Timer } from './clock.ts';
import { defaultLogger, type Logger } from './log.ts';
import { listAll } from './list.ts';
import { collectionPath, objectKey, type KubeObject, type ResourceRef } from './resource.ts';
import { errorText, isGone, type KubeClient } from './rest.ts';
import { Store, type IndexFunc } from './store.ts';

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  /** Also called by a resync and by a relist, then possibly with oldObj === newObj. */
  onUpdate?(oldObj: T, newObj: T): void;
  /** obj is the last state seen (the server's final state for a watched deletion). */
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  resource: ResourceRef;
  /** Only this namespace; all namespaces (or cluster-wide) when undefined. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  indexers?: Record<string, IndexFunc<T>>;
  /** Re-deliver every cached object as an update this often; 0 (the default): never. */
  resyncPeriodMs?: number;
  /** Watch restart backoff; defaults 500 ms doubling to 30 s, +0-50 % jitter. */
  backoff?: Partial<BackoffOptions>;
  /** A watch that lived this long resets the backoff (default 10 s). */
  healthyAfterMs?: number;
  /** Server-side watch timeout (default 20 s, +0-25 % jitter); keep it under 30 s. */
  watchTimeoutSeconds?: number;
  /** LIST page size (default 500). */
  pageSize?: number;
  clock?: Clock;
  logger?: Logger;
}

type WatchOutcome = { kind: 'closed' } | { kind: 'gone' } | { kind: 'error'; err: unknown };

export class Informer<T extends KubeObject> {
  /** The cache. Read-only for callers: copy objects before changing them. */
  readonly store: Store<T>;
  readonly #o: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #handlers = new Set<EventHandler<T>>();
  readonly #stop = new AbortController();
  readonly #syncWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #loop: Promise<void> | undefined;
  #resyncTimer: Timer | undefined;
  #rv = '';
  #synced = false;
  /** Counters for tests and metrics: completed LISTs and started WATCHes. */
  readonly stats = { lists: 0, watches: 0 };

  constructor(opts: InformerOptions<T>) {
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#log = (opts.logger ?? defaultLogger()).child({ informer: opts.resource.plural, namespace: opts.namespace });
    this.store = new Store<T>(opts.indexers);
  }

  /**
   * Registers handlers; returns a function that unregisters them. A handler added after
   * the first sync is first told about every cached object through onAdd, so late
   * registrations see the same world as early ones.
   */
  addEventHandler(h: EventHandler<T>): () => void {
    this.#handlers.add(h);
    if (this.#synced) for (const obj of this.store.list()) this.#call(h, 'onAdd', obj);
    return () => this.#handlers.delete(h);
  }

  /** Starts listing and watching in the background. Idempotent; stop() ends it. */
  start(): void {
    if (this.#loop !== undefined || this.#stop.signal.aborted) return;
    this.#loop = this.#run();
    this.#scheduleResync();
  }

  /** Ends the loop, closes the watch and cancels the resync timer. Idempotent. */
  async stop(): Promise<void> {
    this.#stop.abort(); // aborts the open watch request too (#watchOnce)
    this.#resyncTimer?.cancel();
    for (const w of this.#syncWaiters.splice(0)) w.reject(new KiveError('KIVE_CLOSED', 'informer: stopped before the first sync'));
    await this.#loop;
  }

  /** True once the first LIST has filled the store. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves after the first LIST; rejects if the informer stops or signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    if (this.#stop.signal.aborted) return Promise.reject(new KiveError('KIVE_CLOSED', 'informer: stopped'));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#syncWaiters.push(waiter);
      signal?.addEventListener('abort', () => {
        const i = this.#syncWaiters.indexOf(waiter);
        if (i >= 0) this.#syncWaiters.splice(i, 1);
        reject(new KiveError('KIVE_TIMEOUT', 'informer: gave up waiting for the first sync', { cause: signal.reason }));
      }, { once: true });
    });
  }

  /** The resourceVersion the next watch would start from. */
  lastSyncResourceVersion(): string {
    return this.#rv;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.5, ...this.#o.backoff });
    const healthyAfterMs = this.#o.healthyAfterMs ?? 10_000;
    let needList = true;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.#list(signal);
          needList = false;
        } catch (err) {
          if (signal.aborted) break;
          const delayMs = backoff.next();
          this.#log.warn({ err: errorText(err), delayMs }, 'list failed; retrying');
          await sleep(this.#clock, delayMs, signal);
          continue;
        }
      }
      const started = this.#clock.now();
      const outcome = await this.#watchOnce();
      if (signal.aborted) break;
      if (outcome.kind === 'gone') {
        // Our resourceVersion is older than etcd's compaction window: only a fresh
        // LIST can tell what changed meanwhile.
        this.#log.info({ resourceVersion: this.#rv }, 'watch expired (410); relisting');
        needList = true;
        continue;
      }
      if (this.#clock.now() - started >= healthyAfterMs) backoff.reset();
      const delayMs = backoff.next();
      if (outcome.kind === 'error') this.#log.warn({ err: errorText(outcome.err), delayMs }, 'watch failed; restarting');
      else this.#log.debug({ delayMs }, 'watch closed; restarting');
      await sleep(this.#clock, delayMs, signal);
    }
  }

  /** LISTs every page, then replaces the store and tells handlers what changed. */
  async #list(signal: AbortSignal): Promise<void> {
    const { items, resourceVersion: rv } = await listAll<T>(this.#o.client, this.#o.resource, {
      namespace: this.#o.namespace,
      labelSelector: this.#o.labelSelector,
      fieldSelector: this.#o.fieldSelector,
      pageSize: this.#o.pageSize,
      signal,
    });

    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(objectKey(obj));
      this.#apply(obj);
    }
    for (const key of this.store.keys()) {
      if (!seen.has(key)) {
        const old = this.store.delete(key) as T;
        this.#emit('onDelete', old);
      }
    }
    this.#rv = rv;
    this.stats.lists++;
    this.#log.debug({ objects: items.length, resourceVersion: rv }, 'listed');
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w.resolve();
    }
  }

  /** One WATCH request from #rv; resolves when it ends, saying how. */
  #watchOnce(): Promise<WatchOutcome> {
    const base = this.#o.watchTimeoutSeconds ?? 20;
    const timeoutSeconds = Math.round(base + base * 0.25 * Math.random());
    const path = collectionPath(this.#o.resource, this.#o.namespace);
    const query = {
      resourceVersion: this.#rv,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: this.#o.labelSelector,
      fieldSelector: this.#o.fieldSelector,
    };
    this.stats.watches++;
    return new Promise<WatchOutcome>((resolve) => {
      // An ERROR event decides the outcome; the stream's end only reports it.
      let verdict: WatchOutcome | undefined;
      let ctrl: AbortController | undefined;
      let finished = false;
      // stop() must not wait for a request the server has not answered yet (the Watch
      // class hands out its AbortController only once response headers arrived), and a
      // request it has answered is aborted here: left open, it would keep the process
      // alive until the server ends the watch (timeoutSeconds, up to 25 s).
      const onStop = (): void => {
        ctrl?.abort();
        finish(null);
      };
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        this.#stop.signal.removeEventListener('abort', onStop);
        if (verdict !== undefined) resolve(verdict);
        else if (err === null || err === undefined) resolve({ kind: 'closed' });
        else if ((err as { statusCode?: number }).statusCode === 410 || isGone(err)) resolve({ kind: 'gone' });
        else resolve({ kind: 'error', err });
      };
      const onEvent = (type: string, obj: unknown): void => {
        if (verdict !== undefined) return;
        try {
          if (type === 'ERROR') {
            const st = obj as { code?: number; message?: string };
            verdict = st.code === 410 ? { kind: 'gone' } : { kind: 'error', err: new Error(`watch ERROR event: ${st.code}: ${st.message}`) };
            ctrl?.abort();
            return;
          }
          this.#onWatchEvent(type, obj as T);
        } catch (err) {
          // The Watch class swallows exceptions from this callback; log them instead.
          this.#log.error({ err: errorText(err), type }, 'watch event handling failed');
        }
      };
      new Watch(this.#o.client.kubeConfig)
        .watch(path, query, onEvent, finish)
        .then((c) => {
          ctrl = c;
          if (this.#stop.signal.aborted || verdict !== undefined) c.abort();
        })
        .catch(finish);
    });
  }

  #onWatchEvent(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#apply(obj);
        break;
      case 'DELETED': {
        const old = this.store.delete(objectKey(obj));
        if (old !== undefined) this.#emit('onDelete', obj);
        break;
      }
      case 'BOOKMARK':
        break;
      default:
        this.#log.warn({ type }, 'unknown watch event type');
        return;
    }
    if (rv !== undefined && rv !== '') this.#rv = rv;
  }

  /** Stores obj and reports it as added or updated. */
  #apply(obj: T): void {
    const old = this.store.upsert(obj);
    if (old === undefined) this.#emit('onAdd', obj);
    else this.#emit('onUpdate', old, obj);
  }

  #scheduleResync(): void {
    const period = this.#o.resyncPeriodMs ?? 0;
    if (period <= 0 || this.#stop.signal.aborted) return;
    this.#resyncTimer = this.#clock.setTimer(() => {
      if (this.#synced) for (const obj of this.store.list()) this.#emit('onUpdate', obj, obj);
      this.#scheduleResync();
    }, period);
  }

  #emit(fn: 'onAdd' | 'onDelete', obj: T): void;
  #emit(fn: 'onUpdate', oldObj: T, newObj: T): void;
  #emit(fn: keyof EventHandler<T>, a: T, b?: T): void {
    for (const h of this.#handlers) this.#call(h, fn, a, b);
  }

  /** Calls one handler; a throwing handler is logged and does not stop the others. */
  #call(h: EventHandler<T>, fn: keyof EventHandler<T>, a: T, b?: T): void {
    try {
      if (fn === 'onUpdate') h.onUpdate?.(a, b as T);
      else h[fn]?.(a);
    } catch (err) {
      this.#log.error({ err: errorText(err), handler: fn, key: objectKey(a) }, 'event handler failed');
    }
  }
}
