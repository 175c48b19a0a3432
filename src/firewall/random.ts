/**
 * Random policies and packets for differential tests (reference vs compiled image vs kernel).
 * Addresses, ports and protocols come from small pools so that rules overlap, nest and tie.
 */
import { buildPacket, type LayerSpec } from '../net/packet.js';
import { policyFromObject } from './load.js';
import type { FirewallPolicy } from './schema.js';

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Random {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const V4_POOL = ['198.18.0.1', '198.18.0.2', '198.18.1.1', '198.18.1.200', '198.19.7.7', '198.19.255.1'];
const V6_POOL = ['2001:db8::1', '2001:db8::2', '2001:db8:1::1', '2001:db8:1:2::5', '2001:db8:ff::9'];
const V4_PREFIXES = ['198.18.0.0/15', '198.18.0.0/16', '198.18.0.0/24', '198.18.1.0/24', '198.18.1.128/25', '198.19.0.0/16', '198.18.0.1', '198.18.1.1/32', '0.0.0.0/0'];
const V6_PREFIXES = ['2001:db8::/32', '2001:db8::/48', '2001:db8:1::/48', '2001:db8:1:2::/64', '2001:db8::1/128', '2001:db8:ff::/48', '::/0'];
const PORTS = [0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535];

function randomPort(r: Random): number | string {
  if (r.chance(0.4)) {
    const a = r.pick(PORTS);
    const b = r.pick(PORTS);
    return `${Math.min(a, b)}-${Math.max(a, b)}`;
  }
  return r.pick(PORTS);
}

function some<T>(r: Random, gen: () => T, max: number): T[] {
  return Array.from({ length: r.int(1, max) }, gen);
}

export function randomPolicyObject(r: Random, maxRules = 12): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [];
  const n = r.int(0, maxRules);
  for (let i = 0; i < n; i++) {
    const rule: Record<string, unknown> = { action: r.pick(['pass', 'drop', 'drop', 'rate-limit']) };
    if (rule.action === 'rate-limit') rule.rate = { pps: r.int(1, 100) };
    if (r.chance(0.6)) rule.proto = r.pick(['tcp', 'udp', 'icmp', 'icmpv6', 6, 17, 132]);
    const fam = r.pick(['4', '6', 'both']);
    const pfx = () => (fam === '4' ? r.pick(V4_PREFIXES) : fam === '6' ? r.pick(V6_PREFIXES) : r.pick([...V4_PREFIXES, ...V6_PREFIXES]));
    if (r.chance(0.5)) rule.src = some(r, pfx, 3);
    if (r.chance(0.4)) rule.dst = some(r, pfx, 3);
    if (rule.src && rule.dst) {
      const fams = (l: unknown) => new Set((l as string[]).map((x) => (x.includes(':') ? 6 : 4)));
      const sf = fams(rule.src);
      if (![...fams(rule.dst)].some((f) => sf.has(f))) delete rule.dst; // the schema refuses a rule that can never match
    }
    const p = rule.proto;
    const portsOk = p === undefined || p === 'tcp' || p === 'udp' || p === 6 || p === 17;
    if (portsOk && r.chance(0.4)) rule.srcPorts = some(r, () => randomPort(r), 3);
    if (portsOk && r.chance(0.5)) rule.dstPorts = some(r, () => randomPort(r), 3);
    if ((p === 'tcp' || p === 6) && r.chance(0.5)) rule.tcpFlags = r.pick(['syn', 'syn,!ack', 'ack', '!syn', 'fin,ack', 'rst']);
    rules.push(rule);
  }
  const blocklists = r.chance(0.5)
    ? Array.from({ length: r.int(1, 2) }, (_, i) => ({
        name: `list${i}`,
        entries: some(r, () => r.pick(r.chance(0.5) ? ['198.18.1.128/25', '198.19.7.7', '198.19.0.0/16', '198.18.0.2/32'] : ['2001:db8:ff::/48', '2001:db8::2', '2001:db8:1:2::/64']), 3),
      }))
    : [];
  const policy: Record<string, unknown> = {
    apiVersion: 'xdpkit/v1',
    kind: 'FirewallPolicy',
    default: r.pick(['pass', 'drop']),
    malformed: r.pick(['pass', 'drop']),
    blocklists,
    rules,
  };
  // Low thresholds so that a test's burst of frames from a few pool addresses trips them.
  if (r.chance(0.2)) policy.mitigation = { threshold: { pps: r.pick([3, 10, 40]) }, blockFor: r.pick(['20ms', '1s']) };
  return policy;
}

export function randomPolicy(r: Random, maxRules = 12): FirewallPolicy {
  return policyFromObject(randomPolicyObject(r, maxRules), { source: 'random policy' });
}

const TCP_FLAGS = [0x02, 0x12, 0x10, 0x11, 0x04, 0x18, 0x00, 0xff];

/** A random frame: IPv4/IPv6, TCP/UDP/ICMP/other, VLANs, fragments, extension headers, ARP,
 *  and now and then a truncation (malformed) or a bad header field. */
export function randomFrame(r: Random): Buffer {
  if (r.chance(0.04)) return buildPacket([{ type: 'eth', etherType: 0x0806 }, { type: 'payload', data: new Uint8Array(28) }]);
  const layers: LayerSpec[] = [{ type: 'eth' }];
  const vlans = r.pick([0, 0, 0, 1, 2, 3]);
  for (let i = 0; i < vlans; i++) layers.push({ type: 'vlan', vid: r.int(1, 4094), ...(i === 0 && vlans > 1 && { tpid: 0x88a8 }) });
  const v6 = r.chance(0.45);
  const proto = r.pick([6, 6, 17, 17, v6 ? 58 : 1, 132, 1, 58]);
  if (v6) {
    layers.push({ type: 'ipv6', src: r.pick(V6_POOL), dst: r.pick(V6_POOL) });
    const exts = r.pick([0, 0, 0, 1, 2, 9]);
    for (let i = 0; i < exts; i++) layers.push({ type: r.pick(['hop-by-hop', 'dest-opts'] as const) });
    if (r.chance(0.15)) layers.push({ type: 'fragment', fragmentOffset: r.pick([0, 0, 8, 1480]), mf: r.chance(0.5), nextHeader: proto });
    (layers[layers.length - 1] as { nextHeader?: number }).nextHeader = proto;
  } else {
    const frag = r.chance(0.15);
    layers.push({
      type: 'ipv4',
      src: r.pick(V4_POOL),
      dst: r.pick(V4_POOL),
      protocol: proto,
      ...(frag && { fragmentOffset: r.pick([0, 8, 1480]), mf: r.chance(0.5) }),
      ...(r.chance(0.1) && { options: new Uint8Array([1, 1, 1, 1]) }),
    });
  }
  const port = () => (r.chance(0.7) ? r.pick(PORTS) : r.int(0, 65535));
  if (proto === 6) layers.push({ type: 'tcp', srcPort: port(), dstPort: port(), flags: r.pick(TCP_FLAGS) });
  else if (proto === 17) layers.push({ type: 'udp', srcPort: port(), dstPort: port() });
  else if (proto === 1) layers.push({ type: 'icmp' });
  else if (proto === 58) layers.push({ type: 'icmpv6' });
  layers.push({ type: 'payload', data: new Uint8Array(r.int(0, 24)) });
  let frame = buildPacket(layers);
  if (r.chance(0.12)) frame = frame.subarray(0, r.int(0, frame.length));
  if (r.chance(0.04)) {
    // break a header field: IP version or IHL
    const l3 = 14 + 4 * Math.min(vlans, 2);
    if (frame.length > l3) frame[l3] = r.pick([0x45, 0x44, 0x65, 0x4f, 0x60, 0x40]);
  }
  return Buffer.from(frame);
}
