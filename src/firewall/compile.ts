/**
 * Compiles a validated FirewallPolicy into the map image the XDP data plane reads.
 *
 * Design: Linear Bit Vector Search (bpf-iptables) with equivalence classes, Cilium-style LPM
 * prefilter for blocklists, and two generations selected by one map write.
 *
 * Per packet the program does a constant number of lookups, never a walk over the rules:
 *   1. fw_ctrl[0].active_gen → gen (the ONE write that makes a new policy live).
 *   2. Outside the policy, before and after the blocklists: manual blocks (fw_man_v4/v6,
 *      blocks.ts) and mitigation (fw_mit_rate/fw_mit_block, configured per generation in
 *      fw_config); see bpf/firewall.c.
 *   3. Blocklists: the source address in the generation's exact hash of its family (the lists'
 *      /32 and /128 entries: an address is the longest prefix there is), else one LPM lookup in
 *      its trie (the shorter prefixes) → list index (fw_exact_v4/v6 and fw_block_v4/v6 are
 *      two-slot ARRAY_OF_MAPS holding one map per generation; all lists merged per family and
 *      kind; for the same prefix in several lists the earlier list is stored; the longest prefix
 *      wins, as in the reference). A hash lookup costs the same for a million addresses; a trie
 *      walk of a million prefixes does not.
 *   4. Six field lookups, each returning a CLASS (id, not a bitmap: equal bitmaps are shared,
 *      plus a u32 summary with bit c set when the class allows some rule of chunk c):
 *        src  → LPM fw_src_v4 / fw_src_v6     dst → LPM fw_dst_v4 / fw_dst_v6
 *        proto → ARRAY fw_proto[gen*256 + proto]
 *        sport → ARRAY fw_sport[gen*65537 + port], slot 65536 = "no ports" (not TCP/UDP with its
 *                header, e.g. ICMP or a non-first fragment)      dport → fw_dport likewise
 *        flags → ARRAY fw_flags[gen*257 + tcp flags byte], slot 256 = "no TCP header"
 *      Every trie holds a /0 per generation, so every lookup hits; a trie that holds nothing
 *      else is not looked up at all (fw_config.any_fields, below).
 *   5. A class is a bitmap of the rules that field value allows (bit r = rule r), in chunks of
 *      8 u64 words (512 rules, one cache line), stored from its lowest to its highest non-zero
 *      chunk: chunk c at fw_bitmap[gen*MAX_BITMAP_CHUNKS + first + c] (u32 arithmetic; first =
 *      where the class's lowest stored chunk lies − that chunk's number). The program ANDs the
 *      six summaries and, for the chunks left in ascending order, ANDs the six chunks (every one
 *      non-zero in each class, hence stored); the first chunk with a set bit gives the lowest
 *      such bit = the first matching rule (first match wins) and the search stops. No set bit
 *      in any chunk left → default verdict.
 *   6. fw_rules[gen*MAX_RULES + r] → action (pass/drop/rate-limit with pps and burst).
 * Cost: 1 + 1 + 6 lookups plus 6 lookups and 8 ANDs per 512-rule chunk scanned. The summaries
 * remove the weak point of plain LBVS (a packet that falls through scanning every chunk): a
 * chunk is scanned only when every field's class has a rule in it, so a packet that matches
 * nothing usually scans no chunk at all, and one that matches scans the chunks of its
 * candidate rules only. What remains linear: classes that all reach the same chunks without a
 * common rule (e.g. src allows the even rules, dport the odd ones), up to 32 chunks.
 * Capacity: MAX_BITMAP_CHUNKS stored chunks per generation. Storing a class from its lowest to
 * its highest non-zero chunk makes a class of rules close together cost one or two chunks, not
 * `chunks` (10,000 rules with a source and a port of their own: 20,000 classes, 10,000 chunks
 * for the ports' and ~105,000 for the sources' when a last rule without src is in all of them,
 * instead of 400,000); a class that allows rules far apart (rules without that field spread
 * over the policy) still costs one chunk per 512 rules between them. The place of a chunk is
 * then first + c, as when every class had all chunks: no per-packet cost. (Storing only the
 * non-zero chunks would be more compact but needs a popcount per field per scanned chunk; the
 * verifier also refused its branches, unrolled six times, as too complex.)
 *
 * Class construction (all per generation, deduplicated across fields by bitmap content):
 *   LPM fields: for every prefix P in any rule's list (and /0), the class of P = rules without
 *     that field ∪ rules listing a prefix that covers P. An address whose longest match is P is
 *     covered by exactly those prefixes, so the LPM lookup returns the right set.
 *   Ports: elementary intervals between all range boundaries, swept once.
 *   Proto and flags: every value enumerated.
 *
 * Generations: LPM keys carry the generation (key = {prefixlen, gen, pad[3], addr}, prefixlen
 * = 32 + the prefix length), arrays are indexed gen*SIZE + i, so one set of maps holds both
 * generations; the blocklist tries are one per generation (fresh for every apply, dropped
 * whole). Apply writes the inactive generation, flips fw_ctrl, then deletes the old
 * generation's field-trie entries and empties its blocklist slots (apply.ts). A packet reads
 * fw_ctrl once, so it sees one policy, never a mix.
 *
 * Byte layouts (little-endian host = bpfel):
 *   fw_ctrl    key u32 0            value { u32 active_gen }
 *   fw_config  key u32 gen          value { u32 rule_count; u32 chunks; u8 default_verdict;
 *                                          u8 malformed_verdict; u8 any_fields; u8 block_families;
 *                                          u32 mit_pps; u64 mit_block_ns; fw_class any[4] }
 *              (verdict 0 pass, 1 drop; any_fields bit s: address lookups of slot s — src v4,
 *              src v6, dst v4, dst v6 — are skipped, the class is any[s], because that trie
 *              holds only its /0; block_families BLOCK_MAP_BITS: which blocklist maps — IPv4
 *              and IPv6 tries, IPv4 and IPv6 exact hashes — hold entries, the others are not
 *              looked up)
 *   fw_block_v4/fw_block_v6  ARRAY_OF_MAPS [gen] → LPM trie: key { u32 prefixlen; u8 gen; u8 pad[3];
 *                                          u8 addr[4 or 16] }  value u32 list
 *   fw_exact_v4/fw_exact_v6  ARRAY_OF_MAPS [gen] → hash: key u8 addr[4 or 16]  value u32 list
 *              (encodeGeneration gives them trie keys of full-length prefixes, for the image
 *              model; apply writes the address alone)
 *   fw_src_v4/fw_dst_v4/fw_src_v6/fw_dst_v6  key as above      value { u32 first; u32 chunks } (fw_class)
 *   fw_proto/fw_sport/fw_dport/fw_flags  key u32 index      value { u32 first; u32 chunks } (fw_class)
 *   fw_bitmap  key u32 index        value u64[8]
 *   fw_rules   key u32 index        value { u8 action; u8 pad[3]; u32 pps; u32 burst }  (0 pass 1 drop 2 rate-limit)
 */
import { cidrKey, maskBytes, type Cidr, type Family } from './cidr.js';
import type { FirewallPolicy, FirewallRule, PortRange } from './schema.js';
import { encodeValue } from '../bpf/codecs.js';
import { InvalidArgumentError } from '../bpf/errors.js';
import { fwClassCodec, fwConfigCodec, fwRuleCodec } from './layout.js';

export const MAX_RULES = 16384;
/** Blocklists a policy may have (fw_list_stats counts each). */
export const MAX_BLOCKLISTS = 256;
export const CHUNK_WORDS = 8; // u64 words per chunk
export const RULES_PER_CHUNK = CHUNK_WORDS * 64;
export const MAX_BITMAP_CHUNKS = 1 << 18;
export const PORT_SLOTS = 65537;
export const PORT_NONE = 65536;
export const FLAG_SLOTS = 257;
export const FLAGS_NONE = 256;
export const PROTO_SLOTS = 256;
export const LPM_GEN_BITS = 32;
export const ACTION_CODES = { pass: 0, drop: 1, 'rate-limit': 2 } as const;
export const VERDICT_CODES = { pass: 0, drop: 1 } as const;
/** fw_config.block_families bits: which blocklist maps hold entries (FW_BLOCK_* in firewall_consts.h). */
export const BLOCK_MAP_BITS = { prefixV4: 1, prefixV6: 2, exactV4: 4, exactV6: 8 } as const;

export const FW_MAPS = {
  ctrl: 'fw_ctrl',
  config: 'fw_config',
  blockV4: 'fw_block_v4',
  blockV6: 'fw_block_v6',
  exactV4: 'fw_exact_v4',
  exactV6: 'fw_exact_v6',
  srcV4: 'fw_src_v4',
  srcV6: 'fw_src_v6',
  dstV4: 'fw_dst_v4',
  dstV6: 'fw_dst_v6',
  proto: 'fw_proto',
  sport: 'fw_sport',
  dport: 'fw_dport',
  flags: 'fw_flags',
  bitmap: 'fw_bitmap',
  rules: 'fw_rules',
} as const;

/** A policy beyond a fixed limit of the data plane: the message names the limit, the hint what to change. */
export class PolicyTooLargeError extends InvalidArgumentError {}

export interface LpmEntry {
  addr: Uint8Array;
  prefixLen: number;
  value: number;
}

/** One generation's content, before encoding into map keys and values. */
export interface CompiledPolicy {
  ruleCount: number;
  chunks: number;
  defaultVerdict: 0 | 1;
  malformedVerdict: 0 | 1;
  /** Mitigation: packets per second per source before it is blocked (0 = off), and for how long. */
  mitigationPps: number;
  mitigationBlockNs: bigint;
  /** Address classes without a lookup, by ANY_SLOTS order (src v4, src v6, dst v4, dst v6):
   *  the class of every address when the trie holds only /0, else undefined. */
  anyClasses: (number | undefined)[];
  rules: { action: 0 | 1 | 2; pps: number; burst: number }[];
  /** Blocklist prefixes shorter than an address (the tries)… */
  blockV4: LpmEntry[];
  blockV6: LpmEntry[];
  /** …and single addresses, /32 and /128 (the exact hashes, looked up first). */
  exactV4: LpmEntry[];
  exactV6: LpmEntry[];
  srcV4: LpmEntry[];
  srcV6: LpmEntry[];
  dstV4: LpmEntry[];
  dstV6: LpmEntry[];
  proto: Uint32Array; // PROTO_SLOTS
  sport: Uint32Array; // PORT_SLOTS
  dport: Uint32Array;
  flags: Uint32Array; // FLAG_SLOTS
  /** Class id → bitmap as u32 words (chunks * CHUNK_WORDS * 2 of them; bit r = rule r). */
  classes: Uint32Array[];
  /** Class id → summary: bit c set when the class allows some rule of chunk c. */
  summaries: Uint32Array;
  /** Class id → fw_class.first: its chunk c is at fw_bitmap slot (gen*MAX_BITMAP_CHUNKS + first
   *  + c) mod 2^32 (the slot of its lowest non-zero chunk minus that chunk's number). */
  firsts: Uint32Array;
  /** Chunks stored for the generation: every class from its lowest to its highest non-zero chunk. */
  storedChunks: number;
}

/** The lowest and highest set bit of a non-zero u32 summary (its first and last non-zero chunk). */
export function chunkSpan(summary: number): { lo: number; hi: number } {
  return { lo: 31 - Math.clz32(summary & -summary), hi: 31 - Math.clz32(summary) };
}

/** Bit c set when chunk c of `bits` (u32 words) has a set bit. */
export function chunkSummary(bits: Uint32Array, chunks: number): number {
  const per = CHUNK_WORDS * 2;
  let summary = 0;
  for (let c = 0; c < chunks; c++) {
    for (let w = c * per; w < (c + 1) * per; w++) {
      if (bits[w] !== 0) {
        summary |= 1 << c;
        break;
      }
    }
  }
  return summary >>> 0;
}

class ClassTable {
  readonly classes: Uint32Array[] = [];
  private readonly ids = new Map<string, number>();
  constructor(readonly words32: number) {}

  empty(): Uint32Array {
    return new Uint32Array(this.words32);
  }

  intern(bits: Uint32Array): number {
    const key = Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString('latin1');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.classes.length;
      this.classes.push(Uint32Array.from(bits));
      this.ids.set(key, id);
    }
    return id;
  }
}

function setBit(bits: Uint32Array, r: number): void {
  bits[r >>> 5]! |= 1 << (r & 31);
}

function orInto(dst: Uint32Array, src: Uint32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! |= src[i]!;
}

function wildcard(t: ClassTable, rules: readonly FirewallRule[], has: (r: FirewallRule) => boolean): Uint32Array {
  const bits = t.empty();
  for (const r of rules) if (!has(r)) setBit(bits, r.index);
  return bits;
}

function lpmClasses(t: ClassTable, rules: readonly FirewallRule[], field: 'src' | 'dst', family: Family): LpmEntry[] {
  const wild = wildcard(t, rules, (r) => r[field] !== undefined);
  const own = new Map<string, { cidr: Cidr; bits: Uint32Array }>();
  const zero: Cidr = { family, addr: new Uint8Array(family === 4 ? 4 : 16), prefixLen: 0 };
  own.set(cidrKey(zero), { cidr: zero, bits: t.empty() });
  for (const r of rules) {
    for (const c of r[field] ?? []) {
      if (c.family !== family) continue;
      const k = cidrKey(c);
      let e = own.get(k);
      if (!e) own.set(k, (e = { cidr: c, bits: t.empty() }));
      setBit(e.bits, r.index);
    }
  }
  const lens = [...new Set([...own.values()].map((e) => e.cidr.prefixLen))].sort((a, b) => a - b);
  const out: LpmEntry[] = [];
  for (const { cidr } of own.values()) {
    const bits = Uint32Array.from(wild);
    for (const len of lens) {
      if (len > cidr.prefixLen) break;
      const anc = own.get(cidrKey({ family, addr: maskBytes(cidr.addr, len), prefixLen: len }));
      if (anc) orInto(bits, anc.bits);
    }
    out.push({ addr: cidr.addr, prefixLen: cidr.prefixLen, value: t.intern(bits) });
  }
  return out;
}

function portClasses(t: ClassTable, rules: readonly FirewallRule[], field: 'srcPorts' | 'dstPorts'): Uint32Array {
  const wild = wildcard(t, rules, (r) => r[field] !== undefined);
  const table = new Uint32Array(PORT_SLOTS);
  table[PORT_NONE] = t.intern(wild);
  // Sweep: +1 at a range's start, -1 after its end, per rule (ranges of one rule may overlap).
  const events = new Map<number, { rule: number; delta: number }[]>();
  const add = (at: number, rule: number, delta: number) => {
    let l = events.get(at);
    if (!l) events.set(at, (l = []));
    l.push({ rule, delta });
  };
  for (const r of rules) for (const pr of (r[field] ?? []) as PortRange[]) {
    add(pr.from, r.index, 1);
    add(pr.to + 1, r.index, -1);
  }
  const bounds = [...new Set([0, 65536, ...events.keys()])].sort((a, b) => a - b);
  const count = new Int32Array(rules.length);
  const cur = Uint32Array.from(wild);
  for (let i = 0; i + 1 < bounds.length; i++) {
    for (const { rule, delta } of events.get(bounds[i]!) ?? []) {
      count[rule]! += delta;
      if (count[rule]! > 0) setBit(cur, rule);
      else cur[rule >>> 5]! &= ~(1 << (rule & 31));
    }
    table.fill(t.intern(cur), bounds[i]!, bounds[i + 1]!);
  }
  return table;
}

function protoClasses(t: ClassTable, rules: readonly FirewallRule[]): Uint32Array {
  const wild = wildcard(t, rules, (r) => r.proto !== undefined);
  const table = new Uint32Array(PROTO_SLOTS);
  for (let p = 0; p < PROTO_SLOTS; p++) {
    const bits = Uint32Array.from(wild);
    for (const r of rules) if (r.proto === p) setBit(bits, r.index);
    table[p] = t.intern(bits);
  }
  return table;
}

function flagClasses(t: ClassTable, rules: readonly FirewallRule[]): Uint32Array {
  const wild = wildcard(t, rules, (r) => r.tcpFlags !== undefined);
  const withFlags = rules.filter((r) => r.tcpFlags !== undefined);
  const table = new Uint32Array(FLAG_SLOTS);
  table[FLAGS_NONE] = t.intern(wild);
  for (let v = 0; v < 256; v++) {
    const bits = Uint32Array.from(wild);
    for (const r of withFlags) if ((v & r.tcpFlags!.mask) === r.tcpFlags!.value) setBit(bits, r.index);
    table[v] = t.intern(bits);
  }
  return table;
}

/**
 * The blocklist entries of one family, single addresses (`exact`) or shorter prefixes, to be
 * written in this order. The same prefix may be in several lists; the earliest list must win,
 * and a map write replaces, so the lists are given last to first (no deduplication: a million
 * prefixes would cost a second of string keys).
 */
function blockEntries(policy: FirewallPolicy, family: Family, exact: boolean): LpmEntry[] {
  const bits = family === 4 ? 32 : 128;
  const out: LpmEntry[] = [];
  for (let i = policy.blocklists.length - 1; i >= 0; i--) {
    const l = policy.blocklists[i]!;
    for (const c of l.entries) if (c.family === family && (c.prefixLen === bits) === exact) out.push({ addr: c.addr, prefixLen: c.prefixLen, value: l.index });
  }
  return out;
}

export function compilePolicy(policy: FirewallPolicy): CompiledPolicy {
  const rules = policy.rules;
  if (rules.length > MAX_RULES) {
    throw new PolicyTooLargeError(`the policy has ${rules.length} rules; the firewall holds at most ${MAX_RULES}`, {
      hint: 'merge rules that differ only in addresses or ports into one rule with lists of prefixes and ports',
    });
  }
  if (policy.blocklists.length > MAX_BLOCKLISTS) {
    throw new PolicyTooLargeError(`the policy has ${policy.blocklists.length} blocklists; the firewall counts at most ${MAX_BLOCKLISTS}`, {
      hint: 'merge blocklists: one list may hold any number of prefixes',
    });
  }
  const chunks = Math.max(1, Math.ceil(rules.length / RULES_PER_CHUNK));
  const t = new ClassTable(chunks * CHUNK_WORDS * 2);
  const compiled: CompiledPolicy = {
    ruleCount: rules.length,
    chunks,
    defaultVerdict: VERDICT_CODES[policy.default],
    malformedVerdict: VERDICT_CODES[policy.malformed],
    mitigationPps: policy.mitigation?.thresholdPps ?? 0,
    mitigationBlockNs: BigInt(Math.round((policy.mitigation?.blockForSeconds ?? 0) * 1e9)),
    rules: rules.map((r) => ({ action: ACTION_CODES[r.action], pps: r.rate?.pps ?? 0, burst: r.rate?.burst ?? 0 })),
    blockV4: blockEntries(policy, 4, false),
    blockV6: blockEntries(policy, 6, false),
    exactV4: blockEntries(policy, 4, true),
    exactV6: blockEntries(policy, 6, true),
    srcV4: lpmClasses(t, rules, 'src', 4),
    srcV6: lpmClasses(t, rules, 'src', 6),
    dstV4: lpmClasses(t, rules, 'dst', 4),
    dstV6: lpmClasses(t, rules, 'dst', 6),
    proto: protoClasses(t, rules),
    sport: portClasses(t, rules, 'srcPorts'),
    dport: portClasses(t, rules, 'dstPorts'),
    flags: flagClasses(t, rules),
    classes: t.classes,
    summaries: Uint32Array.from(t.classes, (bits) => chunkSummary(bits, chunks)),
    firsts: new Uint32Array(t.classes.length),
    storedChunks: 0,
    anyClasses: [],
  };
  for (let id = 0; id < compiled.summaries.length; id++) {
    const summary = compiled.summaries[id]!;
    if (summary === 0) continue; // nothing stored: no chunk of it is ever read
    const { lo, hi } = chunkSpan(summary);
    compiled.firsts[id] = (compiled.storedChunks - lo) >>> 0;
    compiled.storedChunks += hi - lo + 1;
  }
  // A trie with only its /0 gives every address the same class: the program skips the lookup.
  compiled.anyClasses = [compiled.srcV4, compiled.srcV6, compiled.dstV4, compiled.dstV6].map((e) => (e.length === 1 ? e[0]!.value : undefined));
  if (compiled.storedChunks > MAX_BITMAP_CHUNKS) {
    throw new PolicyTooLargeError(
      `the policy's rules need ${compiled.storedChunks.toLocaleString('en-US')} rule-bitmap chunks (${t.classes.length.toLocaleString('en-US')} distinct sets of rules that one address, port, protocol or flag value allows, ${RULES_PER_CHUNK} rules per chunk); the firewall holds at most ${MAX_BITMAP_CHUNKS.toLocaleString('en-US')} per policy`,
      {
        hint:
          'use fewer distinct prefixes and port ranges (rules that share a list cost nothing extra), give every rule the fields it filters on (a rule without src is in every source\'s set), or put big address sets into blocklists',
      },
    );
  }
  return compiled;
}

// ---- encoding into map keys and values for one generation ----

export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

/** Map name → entries to write for one generation (arrays: every slot of that generation). */
export type GenerationWrites = Record<string, MapEntry[]>;

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Writes struct fw_lpm_v4/v6 {prefixlen, gen, pad[3], addr} at `offset`. */
export function writeLpmKey(target: Buffer, offset: number, gen: number, addr: Uint8Array, prefixLen: number): void {
  target.writeUInt32LE(LPM_GEN_BITS + prefixLen, offset);
  target[offset + 4] = gen;
  target.fill(0, offset + 5, offset + 8);
  target.set(addr, offset + 8);
}

export function lpmKey(gen: number, addr: Uint8Array, prefixLen: number): Buffer {
  const k = Buffer.alloc(8 + addr.length);
  writeLpmKey(k, 0, gen, addr, prefixLen);
  return k;
}

export function configValue(
  c: Pick<CompiledPolicy, 'ruleCount' | 'chunks' | 'defaultVerdict' | 'malformedVerdict' | 'mitigationPps' | 'mitigationBlockNs' | 'anyClasses' | 'summaries' | 'firsts' | 'blockV4' | 'blockV6' | 'exactV4' | 'exactV6'>,
): Buffer {
  let anyFields = 0;
  c.anyClasses.forEach((id, slot) => {
    if (id !== undefined) anyFields |= 1 << slot;
  });
  return encodeValue(fwConfigCodec, {
    rule_count: c.ruleCount,
    chunks: c.chunks,
    default_verdict: c.defaultVerdict,
    malformed_verdict: c.malformedVerdict,
    any_fields: anyFields,
    block_families:
      (c.blockV4.length > 0 ? BLOCK_MAP_BITS.prefixV4 : 0) |
      (c.blockV6.length > 0 ? BLOCK_MAP_BITS.prefixV6 : 0) |
      (c.exactV4.length > 0 ? BLOCK_MAP_BITS.exactV4 : 0) |
      (c.exactV6.length > 0 ? BLOCK_MAP_BITS.exactV6 : 0),
    mit_pps: c.mitigationPps,
    mit_block_ns: c.mitigationBlockNs,
    any: [0, 1, 2, 3].map((slot) => {
      const id = c.anyClasses[slot];
      return id === undefined ? { first: 0, chunks: 0 } : { first: c.firsts[id]!, chunks: c.summaries[id]! };
    }),
  });
}

/** struct fw_class of class `id`: where its chunks are stored and its chunk summary. */
export function classValue(c: Pick<CompiledPolicy, 'summaries' | 'firsts'>, id: number): Buffer {
  return encodeValue(fwClassCodec, { first: c.firsts[id]!, chunks: c.summaries[id]! });
}

export function ruleValue(r: CompiledPolicy['rules'][number]): Buffer {
  return encodeValue(fwRuleCodec, { action: r.action, pad: [0, 0, 0], pps: r.pps, burst: r.burst });
}

/** Every map's entries for generation `gen`, except the maps in `omit` (an applier that
 *  writes those its own faster way; they are then not encoded at all). */
export function encodeGeneration(c: CompiledPolicy, gen: 0 | 1, omit: ReadonlySet<string> = new Set()): GenerationWrites {
  const blocks = (entries: LpmEntry[]) => entries.map((e) => ({ key: lpmKey(gen, e.addr, e.prefixLen), value: u32(e.value) }));
  // One value buffer per class (they are only read): the port arrays have 65,537 slots each.
  const classValues = new Map<number, Buffer>();
  const cls = (id: number) => classValues.get(id) ?? classValues.set(id, classValue(c, id)).get(id)!;
  const lpm = (entries: LpmEntry[]) => entries.map((e) => ({ key: lpmKey(gen, e.addr, e.prefixLen), value: cls(e.value) }));
  const array = (table: Uint32Array, slots: number) => Array.from(table, (id, i) => ({ key: u32(gen * slots + i), value: cls(id) }));
  const bitmap = (): MapEntry[] => {
    const out: MapEntry[] = [];
    const chunkBytes = CHUNK_WORDS * 8;
    c.classes.forEach((bits, id) => {
      if (c.summaries[id] === 0) return;
      const bytes = Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength); // u32 LE pairs = u64 LE
      const { lo, hi } = chunkSpan(c.summaries[id]!);
      for (let k = lo; k <= hi; k++) {
        out.push({ key: u32(gen * MAX_BITMAP_CHUNKS + ((c.firsts[id]! + k) >>> 0)), value: Buffer.from(bytes.subarray(k * chunkBytes, (k + 1) * chunkBytes)) });
      }
    });
    return out;
  };
  const encoders: Record<string, () => MapEntry[]> = {
    [FW_MAPS.config]: () => [{ key: u32(gen), value: configValue(c) }],
    [FW_MAPS.blockV4]: () => blocks(c.blockV4),
    [FW_MAPS.blockV6]: () => blocks(c.blockV6),
    [FW_MAPS.exactV4]: () => blocks(c.exactV4),
    [FW_MAPS.exactV6]: () => blocks(c.exactV6),
    [FW_MAPS.srcV4]: () => lpm(c.srcV4),
    [FW_MAPS.srcV6]: () => lpm(c.srcV6),
    [FW_MAPS.dstV4]: () => lpm(c.dstV4),
    [FW_MAPS.dstV6]: () => lpm(c.dstV6),
    [FW_MAPS.proto]: () => array(c.proto, PROTO_SLOTS),
    [FW_MAPS.sport]: () => array(c.sport, PORT_SLOTS),
    [FW_MAPS.dport]: () => array(c.dport, PORT_SLOTS),
    [FW_MAPS.flags]: () => array(c.flags, FLAG_SLOTS),
    [FW_MAPS.bitmap]: bitmap,
    [FW_MAPS.rules]: () => c.rules.map((r, i) => ({ key: u32(gen * MAX_RULES + i), value: ruleValue(r) })),
  };
  return Object.fromEntries(Object.entries(encoders).filter(([name]) => !omit.has(name)).map(([name, encode]) => [name, encode()]));
}

/** The per-value class arrays (map, table, slots per generation): 131,000 slots that appliers
 *  write straight from the tables instead of through encodeGeneration's Buffer pairs. */
export function classArrays(c: CompiledPolicy): [string, Uint32Array, number][] {
  return [
    [FW_MAPS.proto, c.proto, PROTO_SLOTS],
    [FW_MAPS.sport, c.sport, PORT_SLOTS],
    [FW_MAPS.dport, c.dport, PORT_SLOTS],
    [FW_MAPS.flags, c.flags, FLAG_SLOTS],
  ];
}

/** The write that makes generation `gen` live. */
export function flipWrite(gen: 0 | 1): { map: string; entry: MapEntry } {
  return { map: FW_MAPS.ctrl, entry: { key: u32(0), value: u32(gen) } };
}
