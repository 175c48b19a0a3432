/**
 * The TypeScript reference evaluator: what a FirewallPolicy does to one raw Ethernet frame.
 * The XDP program (and the compiled map image's interpreter) must agree with it on every packet.
 *
 * Order of decision:
 *   1. Not IP → pass ('non-ip'). Up to two VLAN tags (802.1Q/802.1ad) are skipped; a frame
 *      shorter than an Ethernet header, a truncated tag or a third tag is not IP.
 *   2. Malformed IP → policy.malformed ('malformed'):
 *        IPv4: fewer than 20 bytes, version ≠ 4, IHL < 5, or IHL×4 bytes not present;
 *        IPv6: fewer than 40 bytes, version ≠ 6, an extension header (hop-by-hop 0, routing 43,
 *          destination options 60: (len+1)×8 bytes; fragment 44: 8 bytes) not wholly present,
 *          or still an extension header after 8 were walked;
 *        unfragmented or first fragment: fewer bytes after the IP headers than the L4 header
 *          needs (TCP 20, UDP 8, ICMP 4, ICMPv6 4; by protocol number, whatever the family).
 *      The walk stops at a non-first IPv6 fragment: its protocol is the fragment header's next
 *      header. AH (51) and anything else ends the chain as the protocol.
 *   3. Manual blocks (`fw block add`, outside the policy): the source in an unexpired blocked
 *      prefix → drop ('blocked'); the caller says which sources are blocked (`blocked`).
 *   4. Blocklists: the source address in any listed prefix → drop ('blocklist'); the list
 *      reported is the one with the longest matching prefix (ties: the earlier list).
 *   5. Mitigation (when the policy has it): a source that mitigation blocks, or that this
 *      packet takes over threshold.pps packets in its current one-second window (blocked
 *      packets count too), → drop ('mitigated'), and it stays blocked for blockFor. The state is the caller's
 *      (`mitigate`, e.g. MitigationWindows); default never.
 *   6. Rules in order; the first whose every given field matches decides ('rule'):
 *        proto = IPv4 protocol / IPv6 final next header; src/dst: the address is in one of the
 *        prefixes of its own family (a list without the packet's family never matches);
 *        srcPorts/dstPorts: a TCP or UDP packet that carries its L4 header (never a non-first
 *        fragment) with the port in a range; tcpFlags: a TCP packet carrying its header with
 *        (flags & mask) == value. rate-limit: pass while the source's token bucket has tokens,
 *        drop beyond it (the bucket is the caller's: `rateLimit`; default always within).
 *   7. Nothing matched → policy.default ('default').
 */
import { cidrContains, maskBytes, type Cidr, type Family } from './cidr.js';
import type { Blocklist, FirewallPolicy, FirewallRule, Mitigation, Verdict } from './schema.js';

export const MAX_VLAN_TAGS = 2;
export const MAX_IPV6_EXT_HEADERS = 8;
/** Bytes of L4 header an unfragmented packet or first fragment must carry, by protocol. */
export const L4_MIN_BYTES: Readonly<Record<number, number>> = { 6: 20, 17: 8, 1: 4, 58: 4 };

export type FragmentKind = 'none' | 'first' | 'later';

export type PacketFacts =
  | { kind: 'non-ip' }
  | { kind: 'malformed'; family: Family; reason: string }
  | {
      kind: 'ip';
      family: Family;
      src: Uint8Array;
      dst: Uint8Array;
      proto: number;
      fragment: FragmentKind;
      /** The L4 header named by proto (TCP/UDP/ICMP/ICMPv6) is in this packet. */
      hasL4: boolean;
      srcPort?: number;
      dstPort?: number;
      tcpFlags?: number;
    };

/** Parses a frame as far as the firewall needs, with exactly the semantics above. */
export function packetFacts(frame: Uint8Array): PacketFacts {
  const b = frame;
  const len = b.length;
  const u16 = (o: number) => (b[o]! << 8) | b[o + 1]!;
  if (len < 14) return { kind: 'non-ip' };
  let et = u16(12);
  let off = 14;
  for (let i = 0; i < MAX_VLAN_TAGS && (et === 0x8100 || et === 0x88a8); i++) {
    if (off + 4 > len) return { kind: 'non-ip' };
    et = u16(off + 2);
    off += 4;
  }
  let family: Family;
  let src: Uint8Array;
  let dst: Uint8Array;
  let proto: number;
  let l4: number;
  let fragment: FragmentKind = 'none';
  if (et === 0x0800) {
    family = 4;
    const bad = (reason: string): PacketFacts => ({ kind: 'malformed', family: 4, reason });
    if (len - off < 20) return bad('IPv4 header truncated');
    if (b[off]! >> 4 !== 4) return bad('IPv4 version is not 4');
    const ihl = b[off]! & 15;
    if (ihl < 5) return bad('IPv4 IHL < 5');
    if (off + ihl * 4 > len) return bad('IPv4 options truncated');
    proto = b[off + 9]!;
    src = b.slice(off + 12, off + 16);
    dst = b.slice(off + 16, off + 20);
    const fo = u16(off + 6);
    if (fo & 0x3fff) fragment = (fo & 0x1fff) === 0 ? 'first' : 'later';
    l4 = off + ihl * 4;
  } else if (et === 0x86dd) {
    family = 6;
    const bad = (reason: string): PacketFacts => ({ kind: 'malformed', family: 6, reason });
    if (len - off < 40) return bad('IPv6 header truncated');
    if (b[off]! >> 4 !== 6) return bad('IPv6 version is not 6');
    src = b.slice(off + 8, off + 24);
    dst = b.slice(off + 24, off + 40);
    let nh = b[off + 6]!;
    let pos = off + 40;
    let walked = 0;
    for (;;) {
      if (nh !== 0 && nh !== 43 && nh !== 60 && nh !== 44) break;
      if (walked === MAX_IPV6_EXT_HEADERS) return bad(`more than ${MAX_IPV6_EXT_HEADERS} extension headers`);
      walked++;
      if (nh === 44) {
        if (pos + 8 > len) return bad('IPv6 fragment header truncated');
        const fo = u16(pos + 2);
        nh = b[pos]!;
        pos += 8;
        if (fo & 0xfff9) {
          if (fo & 0xfff8) {
            fragment = 'later';
            break;
          }
          fragment = 'first';
        }
      } else {
        if (pos + 8 > len) return bad('IPv6 extension header truncated');
        const hl = (b[pos + 1]! + 1) * 8;
        if (pos + hl > len) return bad('IPv6 extension header truncated');
        nh = b[pos]!;
        pos += hl;
      }
    }
    proto = nh;
    l4 = pos;
  } else {
    return { kind: 'non-ip' };
  }
  const need = L4_MIN_BYTES[proto];
  const hasL4 = fragment !== 'later' && need !== undefined;
  if (hasL4 && len - l4 < need!) return { kind: 'malformed', family, reason: `L4 header truncated (protocol ${proto})` };
  const facts: PacketFacts = { kind: 'ip', family, src, dst, proto, fragment, hasL4 };
  if (hasL4 && (proto === 6 || proto === 17)) {
    facts.srcPort = u16(l4);
    facts.dstPort = u16(l4 + 2);
    if (proto === 6) facts.tcpFlags = b[l4 + 13]!;
  }
  return facts;
}

export type Decision =
  | { verdict: 'pass'; kind: 'non-ip' }
  | { verdict: Verdict; kind: 'malformed' }
  | { verdict: 'drop'; kind: 'blocklist'; blocklist: number; name: string }
  | { verdict: Verdict; kind: 'rule'; rule: number; name: string; rateLimited?: boolean }
  | { verdict: Verdict; kind: 'default' }
  | { verdict: 'drop'; kind: 'mitigated' }
  | { verdict: 'drop'; kind: 'blocked' };

/** Rate-limit state: true when the rule's bucket for this source still has a token (take it). */
export type RateLimiter = (rule: FirewallRule, src: Uint8Array) => boolean;

/** Mitigation state: true when the source is blocked or this packet takes it over the threshold. */
export type Mitigator = (mitigation: Mitigation, family: Family, src: Uint8Array) => boolean;

export interface EvaluateOptions {
  rateLimit?: RateLimiter;
  mitigate?: Mitigator;
  /** Manual blocks: true when an unexpired manual block covers the source. */
  blocked?: (family: Family, src: Uint8Array) => boolean;
}

type IpFacts = Extract<PacketFacts, { kind: 'ip' }>;

function inAny(list: readonly Cidr[], addr: Uint8Array): boolean {
  for (const c of list) if (cidrContains(c, addr)) return true;
  return false;
}

function portIn(ranges: readonly { from: number; to: number }[], p: number): boolean {
  for (const r of ranges) if (p >= r.from && p <= r.to) return true;
  return false;
}

export function ruleMatches(r: FirewallRule, f: IpFacts): boolean {
  if (r.proto !== undefined && r.proto !== f.proto) return false;
  if (r.src && !inAny(r.src, f.src)) return false;
  if (r.dst && !inAny(r.dst, f.dst)) return false;
  if (r.srcPorts && (f.srcPort === undefined || !portIn(r.srcPorts, f.srcPort))) return false;
  if (r.dstPorts && (f.dstPort === undefined || !portIn(r.dstPorts, f.dstPort))) return false;
  if (r.tcpFlags && (f.tcpFlags === undefined || (f.tcpFlags & r.tcpFlags.mask) !== r.tcpFlags.value)) return false;
  return true;
}

/** A map key for an address: a number for IPv4, a 16-character string for IPv6 (no hex:
 *  building a million keys must stay cheap). */
function addressKey(a: Uint8Array): number | string {
  return a.length === 4 ? ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0 : String.fromCharCode(...a);
}

/** Blocklist lookup by prefix length (longest first), as an LPM trie answers. */
class BlocklistIndex {
  private readonly byLen = new Map<number, Map<number | string, number>>();
  private readonly lens: number[];

  constructor(lists: readonly Blocklist[], family: Family) {
    for (const l of lists) {
      for (const e of l.entries) {
        if (e.family !== family) continue;
        let m = this.byLen.get(e.prefixLen);
        if (!m) this.byLen.set(e.prefixLen, (m = new Map()));
        const k = addressKey(e.addr);
        if (!m.has(k)) m.set(k, l.index);
      }
    }
    this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
  }

  lookup(addr: Uint8Array): number | undefined {
    for (const len of this.lens) {
      const hit = this.byLen.get(len)!.get(addressKey(maskBytes(addr, len)));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

export interface ReferenceEvaluator {
  evaluate(frame: Uint8Array, options?: EvaluateOptions): Decision;
  evaluateFacts(facts: PacketFacts, options?: EvaluateOptions): Decision;
}

export function createReferenceEvaluator(policy: FirewallPolicy): ReferenceEvaluator {
  const block = { 4: new BlocklistIndex(policy.blocklists, 4), 6: new BlocklistIndex(policy.blocklists, 6) };
  const evaluateFacts = (f: PacketFacts, options: EvaluateOptions = {}): Decision => {
    if (f.kind === 'non-ip') return { verdict: 'pass', kind: 'non-ip' };
    if (f.kind === 'malformed') return { verdict: policy.malformed, kind: 'malformed' };
    if (options.blocked?.(f.family, f.src)) return { verdict: 'drop', kind: 'blocked' };
    const bl = block[f.family].lookup(f.src);
    if (bl !== undefined) return { verdict: 'drop', kind: 'blocklist', blocklist: bl, name: policy.blocklists[bl]!.name };
    if (policy.mitigation && options.mitigate?.(policy.mitigation, f.family, f.src)) return { verdict: 'drop', kind: 'mitigated' };
    for (const r of policy.rules) {
      if (!ruleMatches(r, f)) continue;
      if (r.action === 'rate-limit') {
        const within = options.rateLimit ? options.rateLimit(r, f.src) : true;
        return { verdict: within ? 'pass' : 'drop', kind: 'rule', rule: r.index, name: r.name, rateLimited: !within };
      }
      return { verdict: r.action, kind: 'rule', rule: r.index, name: r.name };
    }
    return { verdict: policy.default, kind: 'default' };
  };
  return {
    evaluateFacts,
    evaluate: (frame, options) => evaluateFacts(packetFacts(frame), options),
  };
}

/** Token buckets per (rule, source address), refilled at rate.pps up to rate.burst; time in ns. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: bigint }>();

  constructor(private readonly now: () => bigint = process.hrtime.bigint) {}

  readonly limiter: RateLimiter = (rule, src) => {
    const rate = rule.rate!;
    const key = `${rule.index}/${Buffer.from(src).toString('hex')}`;
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: rate.burst, at: t }));
    const elapsed = Number(t - b.at) / 1e9;
    b.tokens = Math.min(rate.burst, b.tokens + elapsed * rate.pps);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  };
}

/**
 * Mitigation's per-source state as the data plane keeps it (fw_mitigate in bpf/firewall.c):
 * every packet of a source is counted in fixed one-second windows (a window starts at the
 * source's first packet after the previous one ended), blocked packets included; a blocked
 * source is dropped until blockFor has passed; otherwise the packet that makes the count exceed
 * threshold.pps is dropped and blocks the source (again, if its block just ended).
 */
export class MitigationWindows {
  private readonly windows = new Map<string, { start: bigint; packets: number }>();
  private readonly blocks = new Map<string, bigint>();

  constructor(private readonly now: () => bigint = process.hrtime.bigint) {}

  readonly mitigate: Mitigator = (m, family, src) => {
    const key = `${family}/${Buffer.from(src).toString('hex')}`;
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.start >= 1_000_000_000n) this.windows.set(key, (w = { start: t, packets: 0 }));
    w.packets++;
    const until = this.blocks.get(key);
    if (until !== undefined) {
      if (t < until) return true;
      this.blocks.delete(key);
    }
    if (w.packets <= m.thresholdPps) return false;
    this.blocks.set(key, t + BigInt(Math.round(m.blockForSeconds * 1e9)));
    return true;
  };
}
