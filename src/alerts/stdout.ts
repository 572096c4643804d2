// Alerts to stdout as NDJSON, one alert per line. Lines of one batch of kernel events
// are joined and written with a single write, which is what lets this sink keep up with
// hundreds of thousands of alerts a second.
//
// Backpressure: when the reader of stdout is slower than the alerts, Node buffers the
// writes. Past `maxBufferedBytes` we stop buffering and count the lines we could not
// write, and say so on the log once per episode: a bounded loss that is reported beats
// an out-of-memory kill that loses everything.

import type { Writable } from 'node:stream';

export interface LineSinkOptions {
  maxBufferedBytes?: number;
  onDrop?: (droppedSoFar: number) => void;
}

export class NdjsonWriter {
  readonly #out: Writable;
  readonly #maxBuffered: number;
  readonly #onDrop: ((n: number) => void) | undefined;
  #pending: string[] = [];
  #written = 0;
  #dropped = 0;
  #dropping = false;

  /** Does not own `out`: closing the writer flushes but never ends the stream. */
  constructor(out: Writable, options: LineSinkOptions = {}) {
    this.#out = out;
    this.#maxBuffered = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.#onDrop = options.onDrop;
  }

  /** Queues one alert, serialized by the caller (no newline); written at the next flush(). */
  pushLine(json: string): void {
    this.#pending.push(json);
  }

  /** Writes every queued line with one write call. */
  flush(): void {
    const lines = this.#pending;
    if (lines.length === 0) return;
    this.#pending = [];
    if (this.#out.writableLength > this.#maxBuffered) {
      this.#dropped += lines.length;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#onDrop?.(this.#dropped);
      }
      return;
    }
    this.#dropping = false;
    this.#written += lines.length;
    this.#out.write(lines.join('\n') + '\n');
  }

  get written(): number {
    return this.#written;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Resolves once everything written so far has left the process. */
  async drain(): Promise<void> {
    this.flush();
    if (this.#out.writableLength === 0) return;
    await new Promise<void>((resolve) => this.#out.write('', () => resolve()));
  }
}
