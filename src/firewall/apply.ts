/**
 * Writes a compiled policy into the firewall's maps (bpf/firewall.c) the way FirewallMapState
 * (interpret.ts) models it, so that every packet is judged by the old policy or the new:
 *   1. check everything that can be checked before any write (blocklist count);
 *   2. remove leftovers of the inactive generation (trie entries of an earlier failed apply);
 *   3. write the inactive generation with batch updates (progress per batch), zero its
 *      counters and rate-limit buckets;
 *   4. ONE write: fw_ctrl.active_gen = the new generation;
 *   5. wait a moment for packets still on the old generation, then delete the old
 *      generation's trie entries and buckets (arrays are overwritten by the next apply).
 * A failure before step 4 leaves the old policy live and untouched (the partial generation is
 * never read and is cleaned by the next apply).
 */
import type { BpfMap } from '../bpf/map.js';
import { possibleCpuCount } from '../bpf/map.js';
import { InvalidArgumentError } from '../bpf/errors.js';
import { u32 as u32Codec } from '../bpf/codecs.js';
import { fwClassCodec } from './layout.js';
import { encodeGeneration, flipWrite, FLAG_SLOTS, FW_MAPS, MAX_RULES, PORT_SLOTS, PROTO_SLOTS, u32, type CompiledPolicy, type MapEntry } from './compile.js';

/** Limits of the data plane beyond compile.ts's (bpf/include/xdpkit/firewall_consts.h). */
export const MAX_BLOCKLISTS = 256;
export const MISC_SLOTS = 6;
export const MISC = { malformed: 0, default: 1, rateLimited: 2, nonIp: 3, mitigated: 4, blocked: 5 } as const;
export const FW_STATS_MAPS = { rules: 'fw_rule_stats', lists: 'fw_list_stats', misc: 'fw_misc_stats', rate: 'fw_rate', decision: 'fw_decision_map' } as const;
/** State outside the policy generations: mitigation's per-source counters and blocks, manual blocks. */
export const FW_STATE_MAPS = { mitRate: 'fw_mit_rate', mitBlock: 'fw_mit_block', manV4: 'fw_man_v4', manV6: 'fw_man_v6' } as const;
/** Every map of bpf/firewall.c that holds state (for pinning and reuse). */
export const FW_ALL_MAPS: readonly string[] = [...Object.values(FW_MAPS), ...Object.values(FW_STATS_MAPS), ...Object.values(FW_STATE_MAPS), 'xdp_stats'];

const LPM_MAPS = [FW_MAPS.blockV4, FW_MAPS.blockV6, FW_MAPS.srcV4, FW_MAPS.srcV6, FW_MAPS.dstV4, FW_MAPS.dstV6];
const BATCH = 1 << 16;
/** Time for packets that read the old generation to finish before its entries go. */
const GRACE_MS = 5;

export type MapSource = (name: string) => BpfMap;

export interface ApplyProgress {
  map: string;
  done: number;
  total: number;
}

export interface ApplyOptions {
  onProgress?: (p: ApplyProgress) => void;
  /** Runs after the new generation is written, before the flip (tests inject failures here). */
  beforeFlip?: () => void;
}

export interface ApplyResult {
  generation: 0 | 1;
  entriesWritten: number;
  entriesDeleted: number;
  ms: number;
}

export function activeGeneration(maps: MapSource): 0 | 1 {
  const v = maps(FW_MAPS.ctrl).get(u32(0));
  return ((v?.readUInt32LE(0) ?? 0) & 1) as 0 | 1;
}

/** Whether a policy has ever been applied (fw_config of the live generation has chunks > 0). */
export function hasPolicy(maps: MapSource): boolean {
  const cfg = maps(FW_MAPS.config).get(u32(activeGeneration(maps)));
  return (cfg?.readUInt32LE(4) ?? 0) > 0;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Deletes the trie entries of generation `gen` (byte 4 of the key) from every LPM map. */
function clearTries(maps: MapSource, gen: number): number {
  let n = 0;
  for (const name of LPM_MAPS) {
    const m = maps(name);
    const keys: Buffer[] = [];
    for (const k of m.keys()) if (k[4] === gen) keys.push(k);
    for (let i = 0; i < keys.length; i += BATCH) m.deleteMany(keys.slice(i, i + BATCH));
    n += keys.length;
  }
  return n;
}

function clearBuckets(maps: MapSource, gen: number): number {
  const m = maps(FW_STATS_MAPS.rate);
  const keys: Buffer[] = [];
  for (const k of m.keys()) if (Math.floor(k.readUInt32LE(0) / MAX_RULES) === gen) keys.push(k);
  for (const k of keys) m.delete(k);
  return keys.length;
}

function zeroCounters(maps: MapSource, name: string, from: number, count: number): void {
  const m = maps(name);
  const zeros = Array.from({ length: possibleCpuCount() }, () => Buffer.alloc(16));
  for (let i = 0; i < count; i++) m.setPerCpu(u32(from + i), zeros);
}

export function applyCompiled(maps: MapSource, compiled: CompiledPolicy, options: ApplyOptions = {}): ApplyResult {
  const started = performance.now();
  const lists = Math.max(-1, ...[...compiled.blockV4, ...compiled.blockV6].map((e) => e.value)) + 1;
  if (lists > MAX_BLOCKLISTS) {
    throw new InvalidArgumentError(`the policy has ${lists} blocklists; the data plane counts at most ${MAX_BLOCKLISTS}`, {
      hint: 'merge blocklists: one list may hold any number of prefixes',
    });
  }
  const gen = (1 - activeGeneration(maps)) as 0 | 1;
  const old = (1 - gen) as 0 | 1;
  let deleted = clearTries(maps, gen);
  deleted += clearBuckets(maps, gen);

  // The per-value arrays (131,000 slots per generation) are written as numbers, not as
  // encodeGeneration's Buffer pairs (same bytes, ten times faster); everything else as encoded.
  const arrays: [string, Uint32Array, number][] = [
    [FW_MAPS.proto, compiled.proto, PROTO_SLOTS],
    [FW_MAPS.sport, compiled.sport, PORT_SLOTS],
    [FW_MAPS.dport, compiled.dport, PORT_SLOTS],
    [FW_MAPS.flags, compiled.flags, FLAG_SLOTS],
  ];
  const none = new Uint32Array(0);
  const writes = encodeGeneration({ ...compiled, proto: none, sport: none, dport: none, flags: none }, gen);
  let written = 0;
  for (const [name, table, slots] of arrays) {
    const entries: [number, { id: number; chunks: number }][] = Array.from(table, (id, i) => [gen * slots + i, { id, chunks: compiled.summaries[id]! }]);
    maps(name).withCodecs(u32Codec, fwClassCodec).setMany(entries);
    written += entries.length;
    options.onProgress?.({ map: name, done: entries.length, total: entries.length });
  }
  // Config last, so that a half-written generation never looks complete.
  const order = Object.keys(writes).filter((n) => n !== FW_MAPS.config && writes[n]!.length > 0);
  order.push(FW_MAPS.config);
  for (const name of order) {
    const entries: MapEntry[] = writes[name]!;
    const m = maps(name);
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH).map((e) => [e.key, e.value] as [Buffer, Buffer]);
      m.setMany(batch);
      written += batch.length;
      options.onProgress?.({ map: name, done: Math.min(i + BATCH, entries.length), total: entries.length });
    }
  }
  zeroCounters(maps, FW_STATS_MAPS.rules, gen * MAX_RULES, compiled.ruleCount);
  zeroCounters(maps, FW_STATS_MAPS.lists, gen * MAX_BLOCKLISTS, Math.max(0, lists));
  zeroCounters(maps, FW_STATS_MAPS.misc, gen * MISC_SLOTS, MISC_SLOTS);
  options.beforeFlip?.();

  const flip = flipWrite(gen);
  maps(flip.map).set(flip.entry.key, flip.entry.value);

  sleepMs(GRACE_MS);
  deleted += clearTries(maps, old);
  deleted += clearBuckets(maps, old);
  return { generation: gen, entriesWritten: written, entriesDeleted: deleted, ms: performance.now() - started };
}
