/**
 * Writes a compiled policy into the firewall's maps (bpf/firewall.c) the way FirewallMapState
 * (interpret.ts) models it, so that every packet is judged by the old policy or the new:
 *   1. check that the maps are this build's (compilePolicy checked the policy's own limits);
 *   2. remove leftovers of the inactive generation in the field tries (an earlier failed apply),
 *      and check that the new generation's prefixes fit beside the live one's;
 *   3. write the inactive generation with batch updates, zero its counters and rate-limit
 *      buckets; the blocklists go into fresh maps (per family, a trie for prefixes and a hash
 *      for single addresses) that are then put into the generation's slots of fw_block_v4/v6
 *      and fw_exact_v4/v6 (ARRAY_OF_MAPS);
 *   4. ONE write: fw_ctrl.active_gen = the new generation;
 *   5. wait a moment for packets still on the old generation, then delete the old generation's
 *      field-trie entries and buckets, and empty its blocklist slots (the kernel frees those
 *      maps whole: no prefix is deleted one by one). Arrays are overwritten by the next apply.
 * A failure before step 4 leaves the old policy live and untouched (the partial generation is
 * never read and is replaced by the next apply).
 *
 * Progress: onProgress(phase, done, total) after every batch, with done/total in entries of
 * that phase: 'clear' (step 2), 'policy' (step 3 without blocklists), 'blocklists',
 * 'flip' (0/1, 1/1), 'cleanup' (step 5). ApplyResult.phases has the milliseconds of each.
 */
import { BpfMap, possibleCpuCount } from '../bpf/map.js';
import { InvalidArgumentError, NotFoundError } from '../bpf/errors.js';
import type { Codec } from '../bpf/codecs.js';
import { u32 as u32Codec } from '../bpf/codecs.js';
import { fwClassCodec, fwRateKeyCodec, fwRateStateCodec } from './layout.js';
import {
  classArrays,
  encodeGeneration,
  MAX_BLOCKLISTS,
  PolicyTooLargeError,
  flipWrite,
  FW_MAPS,
  MAX_RULES,
  u32,
  writeLpmKey,
  type CompiledPolicy,
  type LpmEntry,
  type MapEntry,
} from './compile.js';

export { MAX_BLOCKLISTS } from './compile.js';
export const MISC_SLOTS = 6;
export const MISC = { malformed: 0, default: 1, rateLimited: 2, nonIp: 3, mitigated: 4, blocked: 5 } as const;
export const FW_STATS_MAPS = { rules: 'fw_rule_stats', lists: 'fw_list_stats', misc: 'fw_misc_stats', rate: 'fw_rate', decision: 'fw_decision_map' } as const;
/** State outside the policy generations: mitigation's per-source counters and blocks, manual blocks. */
export const FW_STATE_MAPS = { mitRate: 'fw_mit_rate', mitBlock: 'fw_mit_block', manV4: 'fw_man_v4', manV6: 'fw_man_v6', manActive: 'fw_man_active' } as const;

/** Field tries: both generations in one trie, the generation in the key. */
/** Each with the compiled policy's entries for it and how error messages name its field. */
const FIELD_TRIES = [
  { name: FW_MAPS.srcV4, entries: 'srcV4', field: 'IPv4 src' },
  { name: FW_MAPS.srcV6, entries: 'srcV6', field: 'IPv6 src' },
  { name: FW_MAPS.dstV4, entries: 'dstV4', field: 'IPv4 dst' },
  { name: FW_MAPS.dstV6, entries: 'dstV6', field: 'IPv6 dst' },
] as const;
/** The per-generation blocklist maps: the slots (ARRAY_OF_MAPS) and what each generation's map holds. */
const BLOCK_MAPS = [
  { slot: FW_MAPS.blockV4, type: 'lpm_trie', addrBytes: 4, entries: (c: CompiledPolicy) => c.blockV4 },
  { slot: FW_MAPS.blockV6, type: 'lpm_trie', addrBytes: 16, entries: (c: CompiledPolicy) => c.blockV6 },
  { slot: FW_MAPS.exactV4, type: 'hash', addrBytes: 4, entries: (c: CompiledPolicy) => c.exactV4 },
  { slot: FW_MAPS.exactV6, type: 'hash', addrBytes: 16, entries: (c: CompiledPolicy) => c.exactV6 },
] as const;
type BlockMap = (typeof BLOCK_MAPS)[number];
const BATCH = 1 << 16;
const BPF_F_NO_PREALLOC = 1;
/** Time for packets that read the old generation to finish before its entries go. */
const GRACE_MS = 5;

export type MapSource = (name: string) => BpfMap;

export type ApplyPhase = 'clear' | 'policy' | 'blocklists' | 'flip' | 'cleanup';

export interface ApplyOptions {
  /** Called after every batch of a phase (done and total in entries of that phase). */
  onProgress?: (phase: ApplyPhase, done: number, total: number) => void;
  /** Runs after the new generation is written, before the flip (tests inject failures here). */
  beforeFlip?: () => void;
}

export interface ApplyResult {
  generation: 0 | 1;
  entriesWritten: number;
  entriesDeleted: number;
  ms: number;
  /** Milliseconds per phase. */
  phases: Record<ApplyPhase, number>;
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

/** Deletes the entries of generation `gen` (byte 4 of the key) from the field tries; returns
 *  how many it deleted and how many each trie keeps (the other generation's). */
function clearFieldTries(maps: MapSource, gen: number): { deleted: number; kept: Map<string, number> } {
  let deleted = 0;
  const kept = new Map<string, number>();
  for (const { name } of FIELD_TRIES) {
    const m = maps(name);
    const all = m.readAll(BATCH).map(([k]) => k);
    const keys = all.filter((k) => k[4] === gen);
    for (let i = 0; i < keys.length; i += BATCH) m.deleteMany(keys.slice(i, i + BATCH));
    deleted += keys.length;
    kept.set(name, all.length - keys.length);
  }
  return { deleted, kept };
}

/**
 * Refuses, before the new generation is written, a policy whose prefixes do not fit into a
 * field trie beside the live policy's: both generations share each trie until the flip.
 */
function checkFieldTries(maps: MapSource, compiled: CompiledPolicy, kept: Map<string, number>): void {
  for (const { name, entries, field } of FIELD_TRIES) {
    const wanted = compiled[entries].length;
    const live = kept.get(name) ?? 0;
    const max = maps(name).description.maxEntries;
    if (live + wanted > max) {
      throw new PolicyTooLargeError(
        `the policy's rules list ${wanted - 1} distinct ${field} prefixes; ${name} holds ${max} entries for the live policy (${live} now) and the new one (${wanted} with its /0) together`,
        { hint: `use fewer distinct ${field} prefixes in rules (merge them into shorter prefixes), or put the addresses to drop into a blocklist (no fixed size)` },
      );
    }
  }
}

function clearBuckets(maps: MapSource, gen: number): number {
  const m = maps(FW_STATS_MAPS.rate).withCodecs(fwRateKeyCodec, fwRateStateCodec);
  const keys = m.readAll(BATCH).map(([k]) => k).filter((k) => Math.floor(k.rule / MAX_RULES) === gen);
  m.deleteMany(keys);
  return keys.length;
}

function zeroCounters(maps: MapSource, name: string, from: number, count: number): void {
  const m = maps(name);
  const zeros = Array.from({ length: possibleCpuCount() }, () => Buffer.alloc(16));
  for (let i = 0; i < count; i++) m.setPerCpu(u32(from + i), zeros);
}

const writeOnly = (): never => {
  throw new Error('write-only codec');
};

/** Codecs that write an LpmEntry straight into a batch buffer (no Buffer per prefix): as a trie
 *  key with the generation, or (exact hashes) as the address alone. */
function blockEntryCodecs(b: BlockMap, gen: number): { key: Codec<LpmEntry>; value: Codec<LpmEntry> } {
  const key: Codec<LpmEntry> =
    b.type === 'lpm_trie'
      ? { size: 8 + b.addrBytes, align: 4, encode: (e, target, offset) => writeLpmKey(target, offset, gen, e.addr, e.prefixLen), decode: writeOnly }
      : { size: b.addrBytes, align: 1, encode: (e, target, offset) => target.set(e.addr, offset), decode: writeOnly };
  return { key, value: { size: 4, align: 4, encode: (e, target, offset) => target.writeUInt32LE(e.value, offset), decode: writeOnly } };
}

/** Codecs that write slot i of a class table (key base + i, value struct fw_class) from its index. */
function classSlotCodecs(base: number, table: Uint32Array, compiled: Pick<CompiledPolicy, 'summaries' | 'firsts'>): { key: Codec<number>; value: Codec<number> } {
  return {
    key: { size: 4, align: 4, encode: (i, target, offset) => target.writeUInt32LE(base + i, offset), decode: writeOnly },
    value: {
      size: fwClassCodec.size,
      align: 4,
      encode(i, target, offset) {
        const id = table[i]!;
        target.writeUInt32LE(compiled.firsts[id]!, offset + fwClassCodec.offsets.first);
        target.writeUInt32LE(compiled.summaries[id]!, offset + fwClassCodec.offsets.chunks);
      },
      decode: writeOnly,
    },
  };
}

/**
 * Writes blocklist entries into a new map of `b`'s kind and puts it into generation `gen`'s
 * slot. The map is sized to the entries (not preallocated: the size is a cap).
 */
function writeBlockMap(maps: MapSource, b: BlockMap, gen: 0 | 1, entries: LpmEntry[], progress: (n: number) => void): void {
  const codecs = blockEntryCodecs(b, gen);
  const map = BpfMap.create({
    type: b.type,
    name: `${b.slot}_${gen}`,
    key: codecs.key,
    value: codecs.value,
    maxEntries: Math.max(1, entries.length),
    flags: BPF_F_NO_PREALLOC,
  });
  try {
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH);
      map.setMany(batch.map((e) => [e, e]));
      progress(batch.length);
    }
    maps(b.slot).withCodecs(u32Codec, u32Codec).set(gen, map.fd);
  } finally {
    map.close(); // the slot holds the map now (or, on failure, nothing does and it is freed)
  }
}

/** Refuses a firewall of an older build: one whose blocklists are not in these per-generation slots. */
function checkBlockSlots(maps: MapSource): void {
  for (const { slot } of BLOCK_MAPS) {
    let type: string;
    try {
      type = maps(slot).typeName;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      type = 'missing';
    }
    if (type !== 'array_of_maps') {
      throw new InvalidArgumentError(`the firewall's ${slot} is ${type === 'missing' ? 'missing' : `a ${type} map`}, not the per-generation slots this xdpkit writes: the program is an older build`, {
        hint: 'unload it (xdpkit fw unload IFACE) and apply the policy again',
      });
    }
  }
}

export function applyCompiled(maps: MapSource, compiled: CompiledPolicy, options: ApplyOptions = {}): ApplyResult {
  const started = performance.now();
  const phases = { clear: 0, policy: 0, blocklists: 0, flip: 0, cleanup: 0 };
  let phaseStart = started;
  const endPhase = (phase: ApplyPhase): void => {
    const now = performance.now();
    phases[phase] = now - phaseStart;
    phaseStart = now;
  };
  const progress = options.onProgress ?? (() => {});
  let lists = 0;
  for (const b of BLOCK_MAPS) for (const e of b.entries(compiled)) lists = Math.max(lists, e.value + 1);
  checkBlockSlots(maps);
  const gen = (1 - activeGeneration(maps)) as 0 | 1;
  const old = (1 - gen) as 0 | 1;
  const cleared = clearFieldTries(maps, gen);
  checkFieldTries(maps, compiled, cleared.kept);
  let deleted = cleared.deleted + clearBuckets(maps, gen);
  progress('clear', deleted, deleted);
  endPhase('clear');

  // The per-value arrays (131,000 slots per generation) are written straight from the class
  // tables, not as encodeGeneration's Buffer pairs (same bytes, ten times faster); the
  // blocklists by writeBlockMap; everything else as encoded.
  const arrays = classArrays(compiled);
  const writes = encodeGeneration(compiled, gen, new Set([...arrays.map(([name]) => name), ...BLOCK_MAPS.map((b) => b.slot)]));
  const order = Object.keys(writes).filter((n) => n !== FW_MAPS.config && writes[n]!.length > 0);
  const policyTotal = arrays.reduce((n, [, t]) => n + t.length, 0) + order.reduce((n, name) => n + writes[name]!.length, 0) + 1;
  let written = 0;
  for (const [name, table, slots] of arrays) {
    const codecs = classSlotCodecs(gen * slots, table, compiled);
    maps(name).withCodecs(codecs.key, codecs.value).setMany(Array.from(table, (_, i) => [i, i]));
    written += table.length;
    progress('policy', written, policyTotal);
  }
  // Config last, so that a half-written generation never looks complete.
  order.push(FW_MAPS.config);
  for (const name of order) {
    const entries: MapEntry[] = writes[name]!;
    const m = maps(name);
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH).map((e) => [e.key, e.value] as [Buffer, Buffer]);
      m.setMany(batch);
      written += batch.length;
      progress('policy', written, policyTotal);
    }
  }
  zeroCounters(maps, FW_STATS_MAPS.rules, gen * MAX_RULES, compiled.ruleCount);
  zeroCounters(maps, FW_STATS_MAPS.lists, gen * MAX_BLOCKLISTS, lists);
  zeroCounters(maps, FW_STATS_MAPS.misc, gen * MISC_SLOTS, MISC_SLOTS);
  endPhase('policy');

  const blockTotal = BLOCK_MAPS.reduce((n, b) => n + b.entries(compiled).length, 0);
  let blocksDone = 0;
  const blockProgress = (n: number) => progress('blocklists', (blocksDone += n), blockTotal);
  progress('blocklists', 0, blockTotal);
  for (const b of BLOCK_MAPS) writeBlockMap(maps, b, gen, b.entries(compiled), blockProgress);
  written += blockTotal;
  options.beforeFlip?.();
  endPhase('blocklists');

  progress('flip', 0, 1);
  const flip = flipWrite(gen);
  maps(flip.map).set(flip.entry.key, flip.entry.value);
  progress('flip', 1, 1);
  endPhase('flip');

  sleepMs(GRACE_MS);
  const cleaned = clearFieldTries(maps, old).deleted + clearBuckets(maps, old);
  for (const b of BLOCK_MAPS) maps(b.slot).delete(u32(old));
  progress('cleanup', cleaned, cleaned);
  deleted += cleaned;
  endPhase('cleanup');
  return { generation: gen, entriesWritten: written, entriesDeleted: deleted, ms: performance.now() - started, phases };
}
