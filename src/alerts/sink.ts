// The alerting core's sink contract (docs/contributing.md, "A new sink"). Every alert is
// serialized once and handed to each sink that takes it; a sink only delivers.
//
// What every sink reports: each alert handed to a sink ends in exactly one of these
// counters, so `delivered + dropped + failed + spooled` equals what the sink was given
// once it has closed (`spooled` only for a sink that can spool, else absent = 0). The stop
// line of `kive run` and the operator's logs print them as is.
//
// - delivered: the receiver has it (stdout: its last byte, the newline, was accepted by
//   the kernel into the pipe or file; callback: a 2xx answer).
// - dropped: never attempted, because the sink's bounded buffer or queue was full.
// - failed: accepted but not delivered: a write error (EPIPE when the reader is gone), a
//   receiver that refused or never answered, or still pending when shutdown's time bound
//   ran out without a spool to keep it.
// - spooled: still pending when shutdown's time bound ran out, and kept on disk for the
//   next start to deliver (the callback sink with a spool, spool.ts). Not lost, not yet
//   delivered: the next process counts it again in what it was given.

import type { TrapContext } from './build.ts';

export interface SinkOutcomes {
  delivered: number;
  dropped: number;
  failed: number;
  /** Only sinks with a spool report it (the callback sink always does, 0 without one). */
  spooled?: number;
}

export interface SinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AlertSink {
  /** Names the sink in the stop line and in logs: `stdout`, `callback`, ... */
  readonly name: string;
  /** Alerts handed to this sink so far (per destination: one per POST for callbacks). */
  readonly given: number;
  /** The outcomes so far, live (read by /metrics at scrape time). */
  readonly outcomes: SinkOutcomes;
  /**
   * Whether an alert for `trap` goes to this sink. `null`: an alert that belongs to no
   * single trap (an `events-lost` alert whose losses no trap can claim).
   */
  takes(trap: TrapContext | null): boolean;
  /**
   * One alert, serialized (no newline), for `traps`: the traps it is about that this
   * sink takes (possibly none, when takes(null) is true). `originNs`: when the alert's
   * story began on the CLOCK_MONOTONIC scale of process.hrtime.bigint(): the kernel
   * event's timestamp for an access alert, the time it was built for the others. A sink
   * that reports delivery latency measures from it. Never throws, never blocks.
   */
  push(line: string, traps: readonly TrapContext[], originNs: bigint): void;
  /** End of a batch: a sink may write what it buffered in one go. */
  flush(): void;
  /** Stops intake; delivers what it holds for at most `graceMs`; the final outcomes. */
  close(graceMs: number): Promise<SinkOutcomes>;
}

/** What a sink factory may need; each command fills in what it has. */
export interface SinkContext {
  log: SinkLogger;
  /** Descriptor for the NDJSON stream (default 1). */
  stdoutFd?: number;
  stdoutBufferBytes?: number;
  /** The stdout reader went away (EPIPE). */
  onStdoutClosed?: () => void;
  /** Options for the HTTP callback sink (callback.ts). */
  callback?: import('./callback.ts').CallbackOptions;
  /** Records Kubernetes Events (the operator's loader); without it there is no Events sink. */
  recorder?: import('./k8s-events.ts').AlertEventRecorder;
  /** Where a sink reports each alert's delivery latency, in seconds (metrics); per sink name. */
  deliveryLatency?: (sink: string) => LatencyObserver;
}

/** Takes one delivered alert's latency in seconds. */
export type LatencyObserver = (seconds: number) => void;

/** Seconds from `originNs` (see AlertSink.push) to now. */
export function secondsSince(originNs: bigint): number {
  return Number(process.hrtime.bigint() - originNs) / 1e9;
}

/** Builds a sink for this process, or `undefined` when it has nothing to do here. */
export type SinkFactory = (ctx: SinkContext) => AlertSink | undefined;
