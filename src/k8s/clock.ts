// Time for the controller layer. Every piece that waits (work queue delays, backoff,
// resync, lease expiry) takes a Clock so that tests drive time by hand instead of
// sleeping: a unit test advances a FakeClock and asserts on what became due.

/** A scheduled callback; cancel() is idempotent and harmless after it fired. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic-enough scale; only differences are meaningful. */
  now(): number;
  /** Runs fn once after ms (0 or less: on a later turn, never synchronously). */
  setTimer(fn: () => void, ms: number): Timer;
}

/** The process clock. Timers keep the event loop alive until cancelled or fired. */
export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. advance() fires due timers in time order,
 * including timers that callbacks schedule inside the advanced window, and sets now()
 * to each timer's due time while it runs, as a real clock would.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const t: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: FakeTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = end;
  }

  /** Timers scheduled and not yet fired or cancelled. */
  pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}

/**
 * Waits ms on the given clock. Resolves true when the time elapsed, false as soon as
 * the signal aborts (the timer is cancelled then), so loops can test the result
 * instead of catching.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
