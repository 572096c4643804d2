// A controller: N workers taking keys from a WorkQueue and calling reconcile(key), with
// controller-runtime's result handling:
//
//   returns, no requeue        -> forget the key's backoff; wait for the next event
//   returns { requeueAfterMs } -> forget the backoff; run again after that delay
//   throws TerminalError       -> a user error retrying cannot fix: log it, forget, and
//                                 wait until the object changes (an event adds it again)
//   throws anything else       -> retry with the key's exponential backoff
//
// reconcile must be level-based: it receives only a key and re-reads the state it
// needs, so coalesced, repeated or resync events are all harmless. The key type K lets a
// controller say what its keys name (a branded `namespace/name` of one kind, or a fixed
// job name), so a key of one kind cannot be queued to a controller of another.
//
// Ownership: start() starts the workers; stop() shuts the queue down (no new reconcile
// starts), aborts the signal passed to running reconciles and waits for them. A
// stopped controller cannot be restarted: make a new one (e.g. per leadership term).

import { KiveError } from '../errors.ts';
import type { Clock } from './clock.ts';
import type { EventHandler, Informer } from './informer.ts';
import { defaultLogger, type Logger } from './log.ts';
import { objectKey, type KubeObject } from './resource.ts';
import { errorText, isConflict } from './rest.ts';
import { WorkQueue, type RateLimiter } from './workqueue.ts';

/** A reconcile error that retrying will not fix (invalid spec, forbidden path, ...). */
export class TerminalError extends KiveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KIVE_TERMINAL', message, options);
    this.name = 'TerminalError';
  }
}

export type ReconcileResult = { requeueAfterMs?: number } | void;

/** Reconciles one key; signal aborts when the controller stops. */
export type Reconciler<K extends string = string> = (key: K, signal: AbortSignal) => Promise<ReconcileResult>;

export interface ControllerOptions<K extends string = string> {
  /** For logs: `discover`, `loader`, `pod-cleanup`, ... */
  name: string;
  reconcile: Reconciler<K>;
  /** Concurrent reconciles of different keys (default 1). */
  workers?: number;
  /** Defaults to a new WorkQueue with the given clock and rate limiter. */
  queue?: WorkQueue;
  clock?: Clock;
  rateLimiter?: RateLimiter;
  logger?: Logger;
  /** Where reconcile outcomes and queue depth are recorded (as controller-runtime does). */
  metrics?: ControllerMetrics;
}

export interface WatchOptions<T> {
  /** Which updates enqueue anything (default: all). Adds and deletes always do. */
  updates?: (oldObj: T, newObj: T) => boolean;
}

/**
 * An update filter for reconcilers that read only an object's spec and its deletion
 * (client-go's GenerationChangedPredicate): a status write leaves `generation` alone, so
 * it wakes nothing; a resync (the same object twice) still does, as the backstop.
 */
export function specChanged(oldObj: KubeObject, newObj: KubeObject): boolean {
  return oldObj === newObj || oldObj.metadata?.generation !== newObj.metadata?.generation || oldObj.metadata?.deletionTimestamp !== newObj.metadata?.deletionTimestamp;
}

export type ReconcileOutcome = 'success' | 'requeue' | 'error' | 'terminal';

/** The controller layer's instrumentation; src/metrics/ implements it. */
export interface ControllerMetrics {
  observeReconcile(controller: string, result: ReconcileOutcome, seconds: number): void;
  /** Reports the queue's depth on demand until the returned function is called. */
  trackQueue(controller: string, depth: () => number): () => void;
}

export class Controller<K extends string = string> {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler<K>;
  readonly #workers: number;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #unsubscribe: Array<() => void> = [];
  #running: Promise<void>[] = [];
  readonly #metrics: ControllerMetrics | undefined;

  constructor(opts: ControllerOptions<K>) {
    this.name = opts.name;
    this.#reconcile = opts.reconcile;
    this.#workers = Math.max(1, opts.workers ?? 1);
    this.queue = opts.queue ?? new WorkQueue({ clock: opts.clock, rateLimiter: opts.rateLimiter });
    this.#log = (opts.logger ?? defaultLogger()).child({ controller: opts.name });
    this.#metrics = opts.metrics;
    if (this.#metrics) this.#unsubscribe.push(this.#metrics.trackQueue(this.name, () => this.queue.len()));
  }

  /** Queues a key for reconciliation. */
  enqueue(key: K): void {
    this.queue.add(key);
  }

  /**
   * Enqueues keys for every add, update (including resyncs) and delete the informer
   * reports. toKeys maps an object to the keys to reconcile (default: its own key);
   * use it to map children to owners, e.g. a Pod to the KivePolicies that match it.
   * Returns a function that stops watching; stop() also does that.
   */
  watch<T extends KubeObject>(informer: Informer<T>, toKeys: (obj: T) => K[] = (o) => [objectKey(o) as K], opts: WatchOptions<T> = {}): () => void {
    const add = (obj: T): void => {
      for (const k of toKeys(obj)) this.queue.add(k);
    };
    const relevant = opts.updates ?? (() => true);
    const handler: EventHandler<T> = { onAdd: add, onUpdate: (old, obj) => void (relevant(old, obj) && add(obj)), onDelete: add };
    const off = informer.addEventHandler(handler);
    this.#unsubscribe.push(off);
    return off;
  }

  /** Starts the workers. Idempotent. */
  start(): void {
    if (this.#running.length > 0 || this.#stop.signal.aborted) return;
    this.#log.info({ workers: this.#workers }, 'starting workers');
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#worker());
  }

  /** Stops taking work, aborts running reconciles' signal and waits for them. Idempotent. */
  async stop(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#stop.abort();
    await this.queue.shutDownWithDrain();
    await Promise.all(this.#running);
    this.#log.info({}, 'stopped');
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #worker(): Promise<void> {
    for (;;) {
      // Only enqueue() and watch() add keys, both typed K.
      const key = (await this.queue.get()) as K | undefined;
      if (key === undefined) return;
      try {
        await this.#processOne(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** Runs reconcile once and turns its outcome into queue operations. Never throws. */
  async #processOne(key: K): Promise<void> {
    let result: ReconcileResult;
    const started = performance.now();
    const record = (outcome: ReconcileOutcome) => this.#metrics?.observeReconcile(this.name, outcome, (performance.now() - started) / 1000);
    try {
      result = await this.#reconcile(key, this.#stop.signal);
    } catch (err) {
      record(err instanceof TerminalError ? 'terminal' : 'error');
      if (err instanceof TerminalError) {
        // Retrying cannot help; the next change to the object enqueues it again.
        this.queue.forget(key);
        this.#log.error({ key, err: errorText(err), code: err.code }, 'reconcile failed permanently; waiting for a change');
        return;
      }
      if (this.#stop.signal.aborted) return; // failing because we are stopping
      const attempt = this.queue.numRequeues(key) + 1;
      this.queue.addRateLimited(key);
      // A 409 is optimistic concurrency doing its job: someone wrote first, the retry
      // reads the newer object. Expected under load, so not an error.
      if (isConflict(err)) this.#log.info({ key, err: errorText(err), attempt }, 'reconcile conflicted with a newer write (409); retrying');
      else this.#log.error({ key, err: errorText(err), attempt }, 'reconcile failed; retrying with backoff');
      return;
    }
    this.queue.forget(key);
    const after = result?.requeueAfterMs;
    record(after !== undefined && after > 0 ? 'requeue' : 'success');
    if (after !== undefined && after > 0) {
      this.queue.addAfter(key, after);
      this.#log.debug({ key, requeueAfterMs: after }, 'reconciled; requeue scheduled');
    } else {
      this.#log.debug({ key }, 'reconciled');
    }
  }
}
