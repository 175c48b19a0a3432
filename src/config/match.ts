/**
 * Pairs the entries of two versions of a declarative document's list by identity (a service by
 * VIP:port/proto, a backend by address, a blocklist by name): what the diffs of `fw diff` and
 * `lb diff` report as added, removed and kept (then compared field by field).
 */
export interface KeyedMatch<T> {
  /** In `after` only, in its order. */
  added: T[];
  /** In `before` only, in its order. */
  removed: T[];
  /** In both, in `after`'s order: [before's entry, after's entry]. */
  kept: [T, T][];
}

export function matchByKey<T>(before: readonly T[], after: readonly T[], key: (entry: T) => string): KeyedMatch<T> {
  const old = new Map(before.map((entry) => [key(entry), entry]));
  const now = new Set(after.map(key));
  const kept: [T, T][] = [];
  const added: T[] = [];
  for (const entry of after) {
    const previous = old.get(key(entry));
    if (previous === undefined) added.push(entry);
    else kept.push([previous, entry]);
  }
  return { added, removed: before.filter((entry) => !now.has(key(entry))), kept };
}
