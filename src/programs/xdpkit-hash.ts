/**
 * The mixing functions of bpf/include/xdpkit/hash.h in TypeScript, word for word, so the
 * control plane and the tests can predict what the data plane computes (cpumap's flow hash,
 * the load balancer's packet hash and Maglev seeds).
 */
const rol32 = (word: number, shift: number): number => ((word << shift) | (word >>> (32 - shift))) >>> 0;

/** xdpkit_hash_mix. */
export function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rol32(k >>> 0, 15);
  k = Math.imul(k, 0x1b873593);
  h = (h ^ k) >>> 0;
  h = rol32(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** xdpkit_hash_final. */
export function final(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
