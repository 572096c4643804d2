// The knobs of the callback sink (callback.ts) and their defaults, apart so the CLIs and
// the docs' knob table can read them without the sink's machinery.

import type { PostOptions, PostResult } from './http-post.ts';
import type { LatencyObserver } from './sink.ts';
import type { Spool } from './spool.ts';

export interface CallbackLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export interface CallbackOptions {
  /** The transport; tests may replace it. */
  post?: (url: URL, body: string, o: PostOptions) => Promise<PostResult>;
  connectTimeoutMs?: number;
  /** Time for the answer's headers once connected. */
  timeoutMs?: number;
  /** How long an alert is retried, from its first attempt. Default 10 min. */
  retryForMs?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** The process-wide bound: alerts queued or in flight, all destinations together. */
  maxQueued?: number;
  maxQueuedBytes?: number;
  concurrencyPerUrl?: number;
  /** HMAC-SHA256 key for X-Kive-Signature. */
  secret?: Buffer;
  /** PEM CA bundle for https receivers. */
  ca?: string | Buffer;
  log?: CallbackLogger;
  /** Minimum time between two warnings of one kind about one destination. */
  warnEveryMs?: number;
  /** In [0, 1): the jitter. */
  random?: () => number;
  /** Told each delivered alert's latency: from its origin (AlertSink.push) to the 2xx answer. */
  latency?: LatencyObserver;
  /**
   * Write-ahead spool (spool.ts): queued alerts survive a restart. Its backlog, left by
   * an earlier process, is queued when the sink is made; the sink closes it.
   */
  spool?: Spool;
  /** At close, how long pending spool writes and removals may take after the grace period. */
  spoolSettleMs?: number;
}

export const CALLBACK_DEFAULTS = {
  connectTimeoutMs: 3_000,
  timeoutMs: 5_000,
  retryForMs: 10 * 60_000,
  baseBackoffMs: 500,
  maxBackoffMs: 30_000,
  maxQueued: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  concurrencyPerUrl: 4,
  spoolSettleMs: 500,
} as const;
