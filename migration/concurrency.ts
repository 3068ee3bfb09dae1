/**
 * How much migration work runs at once: one default for every caller (files in flight, listings,
 * notebook exports, hashes), and one bounded map built on p-limit.
 */
import pLimit = require("p-limit");

/** Items in flight at once: enough to hide per-request latency, few enough to keep memory flat. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Maps `items` through `fn`, at most `n` at once, with the results in input order. After the first failure
 * no further item starts; those in flight are awaited, then that first failure is thrown, so nothing keeps
 * running behind the caller's back.
 */
export async function mapLimited<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const limit = pLimit(Math.max(1, Math.floor(n) || 1));
  let failure: { error: unknown } | undefined;
  const settled = await Promise.allSettled(
    items.map((item) =>
      limit(async () => {
        if (failure) return undefined;
        try {
          return await fn(item);
        } catch (e) {
          failure ??= { error: e };
          throw e;
        }
      }),
    ),
  );
  if (failure) throw failure.error;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/** `mapLimited` for its effects only. */
export async function forEachLimited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  await mapLimited(items, n, fn);
}
