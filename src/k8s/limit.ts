// Bounded concurrency for a batch of API writes: a controller converging thousands of
// objects one request at a time waits a round trip per object (bench/scale.ts: 5,000
// KiveData), while an unbounded burst would hit the API server's max-in-flight limit and
// the client's socket pool all at once.

/**
 * Calls `fn` on every item, at most `width` at a time, in order of start. The first
 * failure stops new starts; the calls already running finish, then it is rethrown (a
 * level-based reconcile retries the whole batch, and the writes are idempotent).
 */
export async function eachLimited<T>(items: Iterable<T>, width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    for (let n = it.next(); !n.done && failure === undefined; n = it.next()) {
      try {
        await fn(n.value);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
  if (failure !== undefined) throw failure.err;
}
