/**
 * Manual blocks (`fw block add|del|list`): source prefixes in the LPM tries fw_man_v4 and
 * fw_man_v6, which live outside the policy generations, so a policy apply keeps them. An entry
 * holds its expiry on the kernel's clock (bpf_ktime_get_ns = CLOCK_MONOTONIC, which is what
 * process.hrtime reads) or 0 for "until deleted". The data plane stops matching an entry when it
 * expires; an expired entry still hides a shorter live prefix around it (an LPM trie returns only
 * the longest match), so every operation here first deletes the expired ones.
 * fw_man_active[0] tells the data plane whether to look at all: set after an entry is added;
 * cleared when the tries are empty, then checked again, so that a block another process adds
 * meanwhile (it sets the flag after its insert) is never left unenforced.
 */
import { InvalidArgumentError, NotFoundError } from '../bpf/errors.js';
import type { BpfMap } from '../bpf/map.js';
import type { MapSource } from './apply.js';
import { FW_STATE_MAPS } from './apply.js';
import { formatCidr, type Cidr } from './cidr.js';
import { u32 } from './compile.js';
import { fwManBlockCodec, fwManV4Codec, fwManV6Codec } from './layout.js';

export interface ManualBlock {
  cidr: string;
  /** Seconds until the block ends; null = until deleted. */
  expiresIn: number | null;
  /** Packets dropped by this block. */
  dropped: number;
}

type ManKey = { prefixlen: number; addr: number[] };
type ManValue = { until_ns: bigint; dropped: bigint };

export const monotonicNs = (): bigint => process.hrtime.bigint();

function tries(maps: MapSource): [4 | 6, BpfMap<ManKey, ManValue>][] {
  return [
    [4, maps(FW_STATE_MAPS.manV4).withCodecs(fwManV4Codec, fwManBlockCodec)],
    [6, maps(FW_STATE_MAPS.manV6).withCodecs(fwManV6Codec, fwManBlockCodec)],
  ];
}

function trieOf(maps: MapSource, family: 4 | 6): BpfMap<ManKey, ManValue> {
  return tries(maps).find(([f]) => f === family)![1];
}

const keyOf = (c: Cidr): ManKey => ({ prefixlen: c.prefixLen, addr: Array.from(c.addr) });

function setActive(maps: MapSource, active: boolean): void {
  maps(FW_STATE_MAPS.manActive).set(u32(0), u32(active ? 1 : 0));
}

const anyBlocks = (maps: MapSource): boolean => tries(maps).some(([, trie]) => !trie.keys().next().done);

/** Clears fw_man_active when no block is left (see above for the order). */
function refreshActive(maps: MapSource): void {
  if (anyBlocks(maps)) return;
  setActive(maps, false);
  if (anyBlocks(maps)) setActive(maps, true);
}

/** Deletes expired entries; returns how many. */
export function pruneExpiredBlocks(maps: MapSource, now = monotonicNs()): number {
  let removed = 0;
  for (const [, trie] of tries(maps)) {
    const expired = trie.readAll().filter(([, v]) => v.until_ns !== 0n && v.until_ns <= now).map(([k]) => k);
    trie.deleteMany(expired);
    removed += expired.length;
  }
  if (removed > 0) refreshActive(maps);
  return removed;
}

/** Blocks `cidr` (replacing an earlier block of the same prefix) for ttlSeconds, or until deleted. */
export function addBlock(maps: MapSource, cidr: Cidr, ttlSeconds?: number): void {
  if (ttlSeconds !== undefined && !(ttlSeconds > 0)) {
    throw new InvalidArgumentError(`a block's time to live must be longer than zero (got ${ttlSeconds} s)`, { hint: 'write e.g. --ttl 10m, or leave --ttl out to block until deleted' });
  }
  const now = monotonicNs();
  pruneExpiredBlocks(maps, now);
  const until = ttlSeconds === undefined ? 0n : now + BigInt(Math.round(ttlSeconds * 1e9));
  trieOf(maps, cidr.family).set(keyOf(cidr), { until_ns: until, dropped: 0n });
  setActive(maps, true);
}

/** Removes the block of exactly `cidr`; a NotFoundError lists the blocks when there is none. */
export function deleteBlock(maps: MapSource, cidr: Cidr): void {
  pruneExpiredBlocks(maps);
  if (trieOf(maps, cidr.family).delete(keyOf(cidr))) {
    refreshActive(maps);
    return;
  }
  const present = listBlocks(maps).map((b) => b.cidr);
  throw new NotFoundError(`${formatCidr(cidr)} is not blocked`, {
    details: present.length > 0 ? `blocked now: ${present.join(', ')}` : 'nothing is blocked',
    hint: 'give the prefix exactly as listed by: xdpkit fw block list',
  });
}

/** Every live block (expired ones are deleted first), longest remaining time first. */
export function listBlocks(maps: MapSource): ManualBlock[] {
  const now = monotonicNs();
  pruneExpiredBlocks(maps, now);
  const out: ManualBlock[] = [];
  for (const [family, trie] of tries(maps)) {
    for (const [k, v] of trie.readAll()) {
      out.push({
        cidr: formatCidr({ family, addr: Uint8Array.from(k.addr), prefixLen: k.prefixlen }),
        expiresIn: v.until_ns === 0n ? null : Number(v.until_ns - now) / 1e9,
        dropped: Number(v.dropped),
      });
    }
  }
  return out.sort((a, b) => (b.expiresIn ?? Infinity) - (a.expiresIn ?? Infinity) || a.cidr.localeCompare(b.cidr));
}
