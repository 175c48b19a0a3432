/**
 * Maglev lookup tables (Eisenbud et al., NSDI 2016, §3.4), with weights.
 *
 * Each backend has a permutation of the table's slots, fixed by its identity alone (offset and
 * skip from two hashes of its address; skip ∈ [1, M-1] and M prime make it a full permutation):
 * permutation[j] = (offset + j·skip) mod M. Backends take turns claiming their next preferred
 * slot that is still free until the table is full. Weights: in each round every backend adds its
 * weight to a credit and claims one slot each time the credit reaches the largest weight (the
 * scheme Katran's Maglev V2 uses), so shares follow the weights to within a slot or so per
 * backend, and a backend's claims still depend only on its own permutation, which keeps the
 * disruption of a change near the minimum (removing one of N equal backends moves ≈ 1/N of slots
 * plus a little; the paper measures the same).
 */
import { InvalidArgumentError } from '../bpf/errors.js';
import { MAGLEV_OFFSET_SEED, MAGLEV_SKIP_SEED, backendHash } from './hash.js';
import { isPrime, nearestPrimes } from './model.js';

export interface MaglevBackend {
  /** The value stored in the table for this backend (e.g. its backend id). */
  id: number;
  /** Identity that fixes the permutation: the backend's 16 address bytes. */
  key: Buffer;
  /** Relative weight; 0 = never chosen. */
  weight: number;
}

/** Marks an empty table (no backend with weight > 0). */
export const MAGLEV_EMPTY = 0xffff_ffff;

export function maglevPermutation(key: Buffer, size: number): { offset: number; skip: number } {
  return {
    offset: backendHash(key, MAGLEV_OFFSET_SEED) % size,
    skip: (backendHash(key, MAGLEV_SKIP_SEED) % (size - 1)) + 1,
  };
}

/**
 * Builds the table: `size` slots, each holding the `id` of a backend. Backends with weight 0 are
 * left out; with none left every slot is MAGLEV_EMPTY. The order of `backends` does not matter
 * (they are sorted by key first, so equal inputs give equal tables).
 */
export function maglevTable(backends: readonly MaglevBackend[], size: number): Uint32Array {
  if (!isPrime(size) || size < 3) {
    const p = nearestPrimes(size);
    throw new InvalidArgumentError(`Maglev table size ${size} is not a prime ≥ 3`, {
      hint: `use a prime such as ${p.below !== undefined && p.below >= 3 ? `${p.below} or ` : ''}${p.above}`,
    });
  }
  const table = new Uint32Array(size).fill(MAGLEV_EMPTY);
  const live = backends.filter((b) => b.weight > 0).sort((a, b) => Buffer.compare(a.key, b.key));
  if (live.length === 0) return table;
  if (live.length > size) {
    throw new InvalidArgumentError(`${live.length} backends do not fit a Maglev table of ${size} slots`, {
      hint: `use a prime table size ≥ ${100 * live.length}`,
    });
  }
  const n = live.length;
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const credit = new Float64Array(n);
  const maxWeight = Math.max(...live.map((b) => b.weight));
  for (let i = 0; i < n; i++) {
    const p = maglevPermutation(live[i]!.key, size);
    pos[i] = p.offset;
    skip[i] = p.skip;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      credit[i]! += live[i]!.weight;
      if (credit[i]! < maxWeight) continue;
      credit[i]! -= maxWeight;
      let c = pos[i]!;
      while (table[c] !== MAGLEV_EMPTY) c = (c + skip[i]!) % size;
      table[c] = live[i]!.id;
      pos[i] = (c + skip[i]!) % size;
      if (++filled === size) return table;
    }
  }
}

/** Slots per id, for stats and tests. */
export function maglevShares(table: Uint32Array): Map<number, number> {
  const out = new Map<number, number>();
  for (const id of table) out.set(id, (out.get(id) ?? 0) + 1);
  return out;
}

/** Fraction of slots whose id differs between two tables of the same size. */
export function maglevDisruption(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new InvalidArgumentError('tables differ in size');
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) moved++;
  return moved / a.length;
}
