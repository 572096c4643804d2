// Exponential backoff shared by the informer (watch restarts) and the work queue (per
// key retries). Two shapes, because the two users need different things: the informer
// wants jitter so that many replicas do not reconnect in lock step after an API server
// restart; the work queue wants the exact, deterministic client-go sequence
// (base * 2^failures, capped) so that tests and operators can predict retry times.

export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Upper bound before jitter. */
  maxMs: number;
  /** Growth per failure; 2 doubles. */
  factor?: number;
  /** Adds up to this fraction of the delay at random: 0.5 makes 1 s become 1-1.5 s. */
  jitter?: number;
  /** Random source in [0, 1), injectable for tests. */
  random?: () => number;
}

/** Delay for the n-th consecutive failure (n = 0 is the first), without jitter. */
export function exponentialDelay(n: number, initialMs: number, maxMs: number, factor = 2): number {
  // Cap the exponent too: factor ** 1100 is Infinity and Infinity * 0 would be NaN.
  const d = initialMs * factor ** Math.min(n, 64);
  return Number.isFinite(d) ? Math.min(d, maxMs) : maxMs;
}

/** A stateful backoff: next() grows the delay, reset() starts over after a success. */
export class Backoff {
  readonly #opts: Required<BackoffOptions>;
  #failures = 0;

  constructor(opts: BackoffOptions) {
    this.#opts = { factor: 2, jitter: 0, random: Math.random, ...opts };
  }

  /** The delay to wait before the next attempt; counts one more failure. */
  next(): number {
    const { initialMs, maxMs, factor, jitter, random } = this.#opts;
    const base = exponentialDelay(this.#failures++, initialMs, maxMs, factor);
    return base + base * jitter * random();
  }

  reset(): void {
    this.#failures = 0;
  }

  get failures(): number {
    return this.#failures;
  }
}
