/**
 * Reference model of drop_udp's decision, written from the rules the C documents (drop_udp.c,
 * xdpkit/parsing.h, xdpkit/packet.h) over plain bytes, for differential tests: the kernel's
 * verdict on any packet must equal decideDropUdp's.
 *
 * Rules: the packet is parsed Ethernet → at most 2 VLAN tags (802.1Q/802.1ad) → IPv4 (version 4,
 * IHL ≥ 5, all IHL*4 bytes present) or IPv6 (version 6, at most 6 extension headers among
 * hop-by-hop, routing, fragment, AH, destination options). Any header cut short, impossible or
 * over a limit: pass. Non-IP: pass. Not UDP: pass. A later fragment (offset > 0) carries no UDP
 * header: it drops with match_ports off and passes with it on. Any other UDP packet needs its
 * whole 8-byte header (else pass), then drops with match_ports off, or with it on when its
 * destination port is listed.
 */

export interface DropUdpConfig {
  matchPorts: boolean;
  /** Destination ports with a nonzero drop_ports value. */
  ports: ReadonlySet<number>;
}

export interface Decision {
  verdict: 'drop' | 'pass';
  /** Why, for failure messages. */
  reason: string;
}

const MAX_VLAN_DEPTH = 2;
const MAX_IPV6_EXT_HEADERS = 6;
const VLAN_TPIDS = new Set([0x8100, 0x88a8]);
const NEXTHDR = { HOP: 0, ROUTING: 43, FRAGMENT: 44, AH: 51, DEST: 60 } as const;
const IPV6_EXT = new Set<number>([NEXTHDR.HOP, NEXTHDR.ROUTING, NEXTHDR.FRAGMENT, NEXTHDR.AH, NEXTHDR.DEST]);
const UDP = 17;

interface IpView {
  /** Upper-layer protocol (for a later fragment: the protocol of the datagram). */
  protocol: number;
  /** Where the upper-layer header starts (meaningless for a later fragment). */
  l4: number;
  laterFragment: boolean;
}

const pass = (reason: string): Decision => ({ verdict: 'pass', reason });
const drop = (reason: string): Decision => ({ verdict: 'drop', reason });

export function decideDropUdp(b: Uint8Array, config: DropUdpConfig): Decision {
  const ip = parseToIp(b);
  if (typeof ip === 'string') return pass(ip);
  if (ip.protocol !== UDP) return pass(`IP protocol ${ip.protocol}`);
  if (ip.laterFragment) return config.matchPorts ? pass('UDP later fragment: no port to match') : drop('UDP later fragment, all UDP dropped');
  // Unfragmented and first fragments carry the UDP header: it must be whole, in either mode.
  if (ip.l4 + 8 > b.length) return pass('UDP header cut short');
  if (!config.matchPorts) return drop('UDP, all UDP dropped');
  const port = (b[ip.l4 + 2]! << 8) | b[ip.l4 + 3]!;
  return config.ports.has(port) ? drop(`UDP to listed port ${port}`) : pass(`UDP to unlisted port ${port}`);
}

/** The IP layer's verdict-relevant facts, or why parsing stopped before an IP upper layer. */
function parseToIp(b: Uint8Array): IpView | string {
  const n = b.length;
  const u16 = (at: number): number => (b[at]! << 8) | b[at + 1]!;
  if (n < 14) return 'Ethernet header cut short';
  let etherType = u16(12);
  let off = 14;
  for (let depth = 0; depth < MAX_VLAN_DEPTH && VLAN_TPIDS.has(etherType); depth++) {
    if (off + 4 > n) return 'VLAN tag cut short';
    etherType = u16(off + 2);
    off += 4;
  }
  if (VLAN_TPIDS.has(etherType)) return 'more than 2 VLAN tags';

  if (etherType === 0x0800) {
    if (off + 20 > n) return 'IPv4 header cut short';
    const version = b[off]! >> 4;
    const ihl = b[off]! & 0x0f;
    if (version !== 4) return `IPv4 EtherType, version ${version}`;
    if (ihl < 5) return `IPv4 IHL ${ihl}`;
    if (off + ihl * 4 > n) return 'IPv4 options cut short';
    const fragOff = u16(off + 6);
    const isFragment = (fragOff & 0x3fff) !== 0; // MF or an offset
    const first = (fragOff & 0x1fff) === 0;
    return { protocol: b[off + 9]!, l4: off + ihl * 4, laterFragment: isFragment && !first };
  }
  if (etherType !== 0x86dd) return `not IP (EtherType 0x${etherType.toString(16)})`;

  if (off + 40 > n) return 'IPv6 header cut short';
  const version = b[off]! >> 4;
  if (version !== 6) return `IPv6 EtherType, version ${version}`;
  let next = b[off + 6]!;
  off += 40;
  for (let walked = 0; IPV6_EXT.has(next); walked++) {
    if (walked === MAX_IPV6_EXT_HEADERS) return 'more than 6 IPv6 extension headers';
    if (next === NEXTHDR.FRAGMENT) {
      if (off + 8 > n) return 'fragment header cut short';
      const fragOff = u16(off + 2);
      next = b[off]!;
      off += 8;
      const isFragment = (fragOff & 0xfff9) !== 0; // M flag or an offset
      // A later fragment ends the walk: what follows is data, not headers.
      if (isFragment && (fragOff & 0xfff8) !== 0) return { protocol: next, l4: off, laterFragment: true };
      continue;
    }
    if (off + 2 > n) return 'extension header cut short';
    const length = next === NEXTHDR.AH ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
    if (off + length > n) return 'extension header cut short';
    next = b[off]!;
    off += length;
  }
  return { protocol: next, l4: off, laterFragment: false };
}
