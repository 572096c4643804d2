// Alerts to stdout as NDJSON, one alert per line. A security monitor's output must never
// be what stops it, so this sink never blocks and never throws:
//
// - It writes to its own non-blocking copy of the descriptor (fd.ts), never through
//   process.stdout: a reader that stops reading makes write(2) say EAGAIN instead of
//   stalling the event loop, and the sink waits for epoll to say the pipe has room.
// - What the reader has not taken yet waits in a bounded buffer (`maxBufferedBytes`, or
//   one batch if a single batch is larger). A batch that does not fit is dropped and
//   counted; the log says when an episode of drops starts and, with its exact count,
//   when it ends (the buffer back under half full).
// - EPIPE (the reader is gone, e.g. `kive run | head -c 300`) is logged once; from then
//   on every alert counts as failed and `onClosed` lets the command decide whether to go
//   on (see docs/alerts.md, "Delivery").
// - close() gives the reader a bounded time to take the rest, then counts what is left
//   as failed. Nothing here can hold up shutdown past that bound.
//
// Counting is exact to the line: a line is delivered once write(2) has accepted its
// newline, so after a partial write the sink knows which lines the reader can see.

import { writeSync } from 'node:fs';
import { closeFd, dupNonBlocking, whenWritable, type WritableWait } from './fd.ts';
import type { TrapContext } from './build.ts';
import type { AlertSink, LatencyObserver, SinkFactory, SinkLogger, SinkOutcomes } from './sink.ts';

export interface StdoutSinkOptions {
  /** Bytes waiting for a slow reader before batches are dropped; default 8 MiB. */
  maxBufferedBytes?: number;
  log?: SinkLogger;
  /** Called once when the reader has gone away (EPIPE). */
  onClosed?: () => void;
  /** Told each delivered line's latency: from its origin (push) to write(2) accepting its newline. */
  latency?: LatencyObserver;
}

export const DEFAULT_STDOUT_BUFFER_BYTES = 8 * 1024 * 1024;
const NEWLINE = 0x0a;

interface Chunk {
  buf: Buffer;
  /** Bytes of `buf` already written. */
  offset: number;
  lines: number;
  /** Lines of `buf` whose newline has been written. */
  delivered: number;
  /** Each line's origin (AlertSink.push), kept only when latency is observed. */
  origins: bigint[] | undefined;
}

/** Where finished alert lines go (StdoutSink; tests pass a plain object). */
export interface AlertLineSink {
  pushLine(json: string): void;
  flush(): void;
}

export class StdoutSink implements AlertLineSink, AlertSink {
  readonly name = 'stdout';
  given = 0;
  readonly outcomes: SinkOutcomes = { delivered: 0, dropped: 0, failed: 0 };
  readonly #fd: number;
  readonly #max: number;
  readonly #log: SinkLogger | undefined;
  readonly #onClosed: (() => void) | undefined;
  readonly #latency: LatencyObserver | undefined;
  #pending: string[] = [];
  #pendingOrigins: bigint[] = [];
  #queue: Chunk[] = [];
  #queuedBytes = 0;
  #wait: WritableWait | undefined;
  #broken = false;
  #closed = false;
  /** Drops since the current episode of drops began; -1 when not dropping. */
  #episodeDrops = -1;
  #lastError = '';
  #idle: Array<() => void> = [];

  /** Writes to a private non-blocking duplicate of `fd` (default: stdout) and closes it at close(). */
  constructor(fd = 1, options: StdoutSinkOptions = {}) {
    this.#max = options.maxBufferedBytes ?? DEFAULT_STDOUT_BUFFER_BYTES;
    this.#log = options.log;
    this.#onClosed = options.onClosed;
    this.#latency = options.latency;
    this.#fd = dupNonBlocking(fd);
    if (this.#fd < 0) this.#fail(new Error('stdout is not open'), 'EBADF');
  }

  /** Every alert goes to stdout, whatever its trap. */
  takes(_trap: TrapContext | null): boolean {
    return true;
  }

  push(line: string, _traps: readonly TrapContext[], originNs?: bigint): void {
    this.pushLine(line, originNs);
  }

  /** Queues one alert, serialized by the caller (no newline); written at the next flush(). */
  pushLine(json: string, originNs?: bigint): void {
    this.given++;
    this.#pending.push(json);
    if (this.#latency !== undefined) this.#pendingOrigins.push(originNs ?? process.hrtime.bigint());
  }

  /** Hands every queued line to the kernel with one write, or buffers or drops them. */
  flush(): void {
    const lines = this.#pending;
    if (lines.length === 0) return;
    this.#pending = [];
    const origins = this.#latency !== undefined ? this.#pendingOrigins : undefined;
    if (origins !== undefined) this.#pendingOrigins = [];
    if (this.#broken || this.#closed) {
      this.outcomes.failed += lines.length;
      return;
    }
    const buf = Buffer.from(lines.join('\n') + '\n');
    if (this.#queuedBytes > 0 && this.#queuedBytes + buf.length > this.#max) {
      this.#drop(lines.length);
      return;
    }
    // An episode ends once the reader has made real room, not when a small batch
    // happens to squeeze in, so one slow stretch is one report.
    if (this.#episodeDrops >= 0 && this.#queuedBytes <= this.#max / 2) {
      this.#log?.warn({ dropped: this.#episodeDrops, droppedTotal: this.outcomes.dropped }, 'stdout caught up; alerts were dropped while it lagged');
      this.#episodeDrops = -1;
    }
    this.#queue.push({ buf, offset: 0, lines: lines.length, delivered: 0, origins });
    this.#queuedBytes += buf.length;
    if (this.#wait === undefined) this.#pump();
  }

  /** Bytes waiting for the reader. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /** Resolves when nothing is buffered any more (written, or failed). */
  drained(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Stops intake, lets the reader take what is buffered for up to `graceMs`, then counts
   * the rest as failed and closes the descriptor. Resolves with the final outcomes.
   */
  async close(graceMs: number): Promise<SinkOutcomes> {
    // Twice would close(2) a descriptor number that may belong to someone else by then.
    if (this.#closed) return { ...this.outcomes };
    this.flush();
    this.#closed = true;
    if (this.#queue.length > 0 && !this.#broken) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.drained(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    const left = this.#abandon();
    if (left > 0) this.#log?.warn({ failed: left, graceMs }, 'stdout: alerts still buffered when the shutdown time ran out were not written');
    this.#cancelWait();
    closeFd(this.#fd);
    return { ...this.outcomes };
  }

  #pump(): void {
    this.#wait = undefined;
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0] as Chunk;
      let n: number;
      try {
        n = writeSync(this.#fd, chunk.buf, chunk.offset, chunk.buf.length - chunk.offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        if (code === 'EAGAIN' || code === 'EINTR') {
          this.#waitWritable();
          return;
        }
        this.#fail(err as Error, code);
        if (this.#broken) return;
        continue;
      }
      this.#lastError = '';
      this.#account(chunk, n);
      if (chunk.offset === chunk.buf.length) this.#queue.shift();
    }
    this.#wakeIdle();
  }

  #wakeIdle(): void {
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  #account(chunk: Chunk, n: number): void {
    let newlines = 0;
    const end = chunk.offset + n;
    for (let i = chunk.buf.indexOf(NEWLINE, chunk.offset); i !== -1 && i < end; i = chunk.buf.indexOf(NEWLINE, i + 1)) newlines++;
    chunk.offset = end;
    if (newlines > 0 && chunk.origins !== undefined && this.#latency !== undefined) {
      const now = process.hrtime.bigint();
      for (let i = chunk.delivered; i < chunk.delivered + newlines; i++) this.#latency(Number(now - (chunk.origins[i] as bigint)) / 1e9);
    }
    chunk.delivered += newlines;
    this.outcomes.delivered += newlines;
    this.#queuedBytes -= n;
  }

  #waitWritable(): void {
    try {
      this.#wait = whenWritable(this.#fd, () => this.#pump());
    } catch {
      // epoll cannot wait on this kind of file; it should never have said EAGAIN, but
      // retrying on a timer is better than stalling.
      const timer = setTimeout(() => this.#pump(), 20);
      this.#wait = { close: () => clearTimeout(timer) };
    }
  }

  #cancelWait(): void {
    const w = this.#wait;
    this.#wait = undefined;
    w?.close();
  }

  #drop(lines: number): void {
    this.outcomes.dropped += lines;
    if (this.#episodeDrops < 0) {
      this.#episodeDrops = 0;
      this.#log?.error({ bufferedBytes: this.#queuedBytes, maxBufferedBytes: this.#max }, 'stdout is not keeping up: alerts are being dropped');
    }
    this.#episodeDrops += lines;
  }

  /** A write failed: EPIPE ends stdout for good; any other error fails the batch being written. */
  #fail(err: Error, code: string): void {
    if (code === 'EPIPE' || code === 'EBADF') {
      this.#broken = true;
      const lost = this.#abandon();
      const what = code === 'EPIPE' ? 'stdout was closed by its reader' : 'stdout is not open';
      this.#log?.error({ code, failed: lost }, `${what}: alerts are no longer written to stdout`);
      this.#wakeIdle();
      this.#onClosed?.();
      return;
    }
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.outcomes.failed += chunk.lines - chunk.delivered;
      this.#queuedBytes -= chunk.buf.length - chunk.offset;
    }
    if (code !== this.#lastError) this.#log?.error({ code, err: err.message, failedTotal: this.outcomes.failed }, 'cannot write alerts to stdout');
    this.#lastError = code;
  }

  /** Counts every buffered line not yet delivered as failed and empties the buffer. */
  #abandon(): number {
    let left = 0;
    for (const c of this.#queue) left += c.lines - c.delivered;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.outcomes.failed += left;
    return left;
  }
}

export const stdoutSinkFactory: SinkFactory = (ctx) =>
  new StdoutSink(ctx.stdoutFd ?? 1, {
    log: ctx.log,
    ...(ctx.stdoutBufferBytes !== undefined ? { maxBufferedBytes: ctx.stdoutBufferBytes } : {}),
    ...(ctx.onStdoutClosed !== undefined ? { onClosed: ctx.onStdoutClosed } : {}),
    ...(ctx.deliveryLatency !== undefined ? { latency: ctx.deliveryLatency('stdout') } : {}),
  });
