/**
 * An in-memory model of the firewall maps and a TypeScript interpreter of the data plane that
 * reads them, byte layouts and all (see compile.ts). It is the executable spec of the XDP
 * program's classification: tests check it against the reference evaluator, and `apply`
 * follows the same steps on real maps (write the inactive generation, flip, clean up).
 * Runtime state is not part of the image and not modelled: token buckets are the caller's
 * (`rateLimit`), and mitigation and manual blocks are left out (the reference evaluator and
 * the kernel tests cover them).
 */
import {
  BLOCK_MAP_BITS,
  CHUNK_WORDS,
  FLAGS_NONE,
  FLAG_SLOTS,
  FW_MAPS,
  MAX_BITMAP_CHUNKS,
  MAX_RULES,
  PORT_NONE,
  PORT_SLOTS,
  PROTO_SLOTS,
  classArrays,
  classValue,
  encodeGeneration,
  flipWrite,
  lpmKey,
  LPM_GEN_BITS,
  u32,
  type CompiledPolicy,
} from './compile.js';
import { maskBytes } from './cidr.js';
import { fwClassCodec, fwConfigCodec } from './layout.js';
import { packetFacts, type PacketFacts } from './reference.js';

/** Maps keyed by generation-prefixed trie keys; the exact hashes are modelled as tries of
 *  full-length prefixes (the same answers). */
const LPM_MAPS: ReadonlySet<string> = new Set([
  FW_MAPS.blockV4, FW_MAPS.blockV6, FW_MAPS.exactV4, FW_MAPS.exactV6, FW_MAPS.srcV4, FW_MAPS.srcV6, FW_MAPS.dstV4, FW_MAPS.dstV6,
]);

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** u32(n).toString('hex') without the Buffer: the key of array slot n in this model. */
function u32Hex(n: number): string {
  return HEX_BYTES[n & 255]! + HEX_BYTES[(n >>> 8) & 255]! + HEX_BYTES[(n >>> 16) & 255]! + HEX_BYTES[n >>> 24]!;
}

export type ImageDecision =
  | { verdict: 'pass'; kind: 'non-ip' }
  | { verdict: 'pass' | 'drop'; kind: 'malformed' }
  | { verdict: 'drop'; kind: 'blocklist'; blocklist: number }
  | { verdict: 'pass' | 'drop'; kind: 'rule'; rule: number; rateLimited?: boolean }
  | { verdict: 'pass' | 'drop'; kind: 'default' };

/** (rule index, pps, burst, source address) → true while the bucket has a token. */
export type ImageRateLimiter = (rule: number, pps: number, burst: number, src: Uint8Array) => boolean;

export class FirewallMapState {
  /** map name → key hex → value bytes */
  readonly maps = new Map<string, Map<string, Buffer>>();
  private readonly prefixLengths = new Map<string, number[]>();

  constructor() {
    for (const name of Object.values(FW_MAPS)) this.maps.set(name, new Map());
    this.map(FW_MAPS.ctrl).set(u32(0).toString('hex'), u32(0));
  }

  map(name: string): Map<string, Buffer> {
    const m = this.maps.get(name);
    if (!m) throw new Error(`no map ${name}`);
    return m;
  }

  activeGeneration(): 0 | 1 {
    return (this.map(FW_MAPS.ctrl).get(u32(0).toString('hex'))!.readUInt32LE(0) & 1) as 0 | 1;
  }

  /** Writes `compiled` into the inactive generation, flips, and removes the old generation's
   *  trie entries (arrays are simply overwritten next time). Returns the new generation. */
  apply(compiled: CompiledPolicy, hooks: { beforeFlip?: () => void } = {}): 0 | 1 {
    const gen = (1 - this.activeGeneration()) as 0 | 1;
    this.clearLpm(gen);
    const arrays = classArrays(compiled);
    for (const [name, entries] of Object.entries(encodeGeneration(compiled, gen, new Set(arrays.map(([name]) => name))))) {
      const m = this.map(name);
      for (const e of entries) m.set(e.key.toString('hex'), e.value);
    }
    // The class arrays as applyCompiled writes them: slot by slot from the tables (the same
    // bytes as encodeGeneration's, one value buffer per class).
    const values = Array.from(compiled.summaries, (_, id) => classValue(compiled, id));
    for (const [name, table, slots] of arrays) {
      const m = this.map(name);
      table.forEach((id, i) => m.set(u32Hex(gen * slots + i), values[id]!));
    }
    this.indexPrefixLengths();
    hooks.beforeFlip?.();
    const old = (1 - gen) as 0 | 1;
    const f = flipWrite(gen);
    this.map(f.map).set(f.entry.key.toString('hex'), f.entry.value);
    this.clearLpm(old);
    return gen;
  }

  private clearLpm(gen: number): void {
    for (const name of LPM_MAPS) {
      const m = this.map(name);
      for (const k of [...m.keys()]) if (Buffer.from(k, 'hex')[4] === gen) m.delete(k);
    }
    this.indexPrefixLengths();
  }

  /** The prefix lengths each trie holds, longest first (keys start with the u32 LE prefixlen). */
  private indexPrefixLengths(): void {
    for (const name of LPM_MAPS) {
      const lens = new Set<number>();
      for (const k of this.map(name).keys()) lens.add(Buffer.from(k.slice(0, 8), 'hex').readUInt32LE(0) - LPM_GEN_BITS);
      this.prefixLengths.set(name, [...lens].sort((a, b) => b - a));
    }
  }

  /** Longest-prefix match as BPF_MAP_TYPE_LPM_TRIE does it, on the generation-prefixed key
   *  (only the prefix lengths the trie holds are tried: the same answer, far fewer probes). */
  lpmValue(name: string, gen: number, addr: Uint8Array): Buffer | undefined {
    const m = this.map(name);
    for (const len of this.prefixLengths.get(name) ?? []) {
      if (len > addr.length * 8) continue;
      const v = m.get(lpmKey(gen, maskBytes(addr, len), len).toString('hex'));
      if (v) return v;
    }
    return undefined;
  }

  /** The u32 value of the longest matching prefix (the blocklist tries). */
  lpmLookup(name: string, gen: number, addr: Uint8Array): number | undefined {
    return this.lpmValue(name, gen, addr)?.readUInt32LE(0);
  }

  arrayLookup(name: string, index: number): Buffer | undefined {
    return this.map(name).get(u32Hex(index));
  }

  evaluate(frame: Uint8Array, rateLimit?: ImageRateLimiter): ImageDecision {
    return this.evaluateFacts(packetFacts(frame), rateLimit);
  }

  evaluateFacts(f: PacketFacts, rateLimit?: ImageRateLimiter): ImageDecision {
    if (f.kind === 'non-ip') return { verdict: 'pass', kind: 'non-ip' };
    const gen = this.activeGeneration();
    const cfg = this.arrayLookup(FW_MAPS.config, gen);
    if (!cfg) return { verdict: 'pass', kind: 'default' }; // no policy loaded
    const chunks = cfg.readUInt32LE(4);
    const verdictOf = (code: number) => (code === 1 ? 'drop' : 'pass') as 'pass' | 'drop';
    if (f.kind === 'malformed') return { verdict: verdictOf(cfg[9]!), kind: 'malformed' };
    const v6 = f.family === 6;
    const config = fwConfigCodec.decode(cfg, 0);
    // The source address in the exact hash first, then the prefixes in the trie.
    const blocked = (bit: number, map: string) => (config.block_families & bit ? this.lpmLookup(map, gen, f.src) : undefined);
    const bl = v6
      ? (blocked(BLOCK_MAP_BITS.exactV6, FW_MAPS.exactV6) ?? blocked(BLOCK_MAP_BITS.prefixV6, FW_MAPS.blockV6))
      : (blocked(BLOCK_MAP_BITS.exactV4, FW_MAPS.exactV4) ?? blocked(BLOCK_MAP_BITS.prefixV4, FW_MAPS.blockV4));
    if (bl !== undefined) return { verdict: 'drop', kind: 'blocklist', blocklist: bl };
    // A field's class and chunk summary (struct fw_class); a missing entry matches nothing.
    // Address classes come from the config when its any_fields bit says the trie holds only /0.
    const decoded = (b: Buffer | undefined) => (b ? fwClassCodec.decode(b, 0) : { first: 0, chunks: 0 });
    const address = (field: 0 | 1, name: string, addr: Uint8Array) => {
      const slot = field * 2 + (v6 ? 1 : 0);
      return config.any_fields & (1 << slot) ? config.any[slot]! : decoded(this.lpmValue(name, gen, addr));
    };
    const fields = [
      address(0, v6 ? FW_MAPS.srcV6 : FW_MAPS.srcV4, f.src),
      address(1, v6 ? FW_MAPS.dstV6 : FW_MAPS.dstV4, f.dst),
      decoded(this.arrayLookup(FW_MAPS.proto, gen * PROTO_SLOTS + f.proto)),
      decoded(this.arrayLookup(FW_MAPS.sport, gen * PORT_SLOTS + (f.srcPort ?? PORT_NONE))),
      decoded(this.arrayLookup(FW_MAPS.dport, gen * PORT_SLOTS + (f.dstPort ?? PORT_NONE))),
      decoded(this.arrayLookup(FW_MAPS.flags, gen * FLAG_SLOTS + (f.tcpFlags ?? FLAGS_NONE))),
    ];
    const todo = fields.reduce((acc, c) => acc & c.chunks, 0xffffffff);
    for (let c = 0; c < chunks; c++) {
      if (((todo >>> c) & 1) === 0) continue;
      const parts = fields.map((k) => this.arrayLookup(FW_MAPS.bitmap, gen * MAX_BITMAP_CHUNKS + ((k.first + c) >>> 0)));
      if (parts.some((p) => p === undefined)) return { verdict: verdictOf(cfg[8]!), kind: 'default' };
      for (let w = 0; w < CHUNK_WORDS; w++) {
        let word = 0xffffffffffffffffn;
        for (const p of parts) word &= p!.readBigUInt64LE(w * 8);
        if (word === 0n) continue;
        let bit = 0;
        while (((word >> BigInt(bit)) & 1n) === 0n) bit++;
        const rule = c * CHUNK_WORDS * 64 + w * 64 + bit;
        const rv = this.arrayLookup(FW_MAPS.rules, gen * MAX_RULES + rule)!;
        const action = rv[0]!;
        if (action === 2) {
          const within = rateLimit ? rateLimit(rule, rv.readUInt32LE(4), rv.readUInt32LE(8), f.src) : true;
          return { verdict: within ? 'pass' : 'drop', kind: 'rule', rule, rateLimited: !within };
        }
        return { verdict: verdictOf(action), kind: 'rule', rule };
      }
    }
    return { verdict: verdictOf(cfg[8]!), kind: 'default' };
  }
}

