/**
 * Short names for the layers kernel tests build packets from, on top of src/net's builder:
 * a table row reads `[eth(), ip4(), udp(53), payload('query')]` and says only what matters.
 * Lengths, checksums and next-protocol fields are derived by buildPacket unless a spec sets them.
 */
import {
  buildPacket,
  type EthernetSpec,
  type IcmpSpec,
  type Ipv4Spec,
  type Ipv6FragmentSpec,
  type Ipv6OptionsSpec,
  type Ipv6RoutingSpec,
  type Ipv6Spec,
  type LayerSpec,
  type PayloadSpec,
  type TcpSpec,
  type UdpSpec,
  type VlanSpec,
} from '../../src/net/packet.js';

export type { LayerSpec, VlanSpec } from '../../src/net/packet.js';

export const MAC = {
  client: '02:00:00:00:00:01',
  server: '02:00:00:00:00:02',
  broadcast: 'ff:ff:ff:ff:ff:ff',
  /** 33:33 + low 32 bits of ff02::1 (all nodes). */
  allNodes: '33:33:00:00:00:01',
  /** 01:00:5e + low 23 bits of 224.0.0.251 (mDNS). */
  mdns4: '01:00:5e:00:00:fb',
} as const;

export const IP4 = { client: '198.18.0.1', server: '198.19.0.2' } as const;
export const IP6 = { client: '2001:db8::1', server: '2001:db8:1::2' } as const;

/** Client port of every default flow. */
export const CLIENT_PORT = 40000;

export const TPID_8021Q = 0x8100;
export const TPID_8021AD = 0x88a8;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** IP protocol / IPv6 next-header numbers the tables use. */
export const PROTO = { HOP: 0, ICMP: 1, TCP: 6, UDP: 17, ROUTING: 43, FRAGMENT: 44, GRE: 47, ESP: 50, AH: 51, ICMPV6: 58, NONE: 59, DEST: 60 } as const;

/** Client → server unless overridden. */
export const eth = (over: Partial<EthernetSpec> = {}): EthernetSpec => ({ type: 'eth', src: MAC.client, dst: MAC.server, ...over });
/** The same frame header, answered: server → client. */
export const ethBack = (over: Partial<EthernetSpec> = {}): EthernetSpec => eth({ src: MAC.server, dst: MAC.client, ...over });

export const vlan = (vid: number, tpid: number = TPID_8021Q, over: Partial<VlanSpec> = {}): VlanSpec => ({ type: 'vlan', vid, tpid, ...over });
/** 802.1ad outer tag (service VLAN) + 802.1Q inner tag (customer VLAN). */
export const qinq = (outer = 100, inner = 10): VlanSpec[] => [vlan(outer, TPID_8021AD), vlan(inner, TPID_8021Q)];

export const ip4 = (over: Partial<Ipv4Spec> = {}): Ipv4Spec => ({ type: 'ipv4', src: IP4.client, dst: IP4.server, id: 0x1234, ...over });
export const ip4Back = (over: Partial<Ipv4Spec> = {}): Ipv4Spec => ip4({ src: IP4.server, dst: IP4.client, ...over });
export const ip6 = (over: Partial<Ipv6Spec> = {}): Ipv6Spec => ({ type: 'ipv6', src: IP6.client, dst: IP6.server, ...over });
export const ip6Back = (over: Partial<Ipv6Spec> = {}): Ipv6Spec => ip6({ src: IP6.server, dst: IP6.client, ...over });

/** UDP to `dstPort` from the client port. */
export const udp = (dstPort: number, srcPort: number = CLIENT_PORT, over: Partial<UdpSpec> = {}): UdpSpec => ({ type: 'udp', srcPort, dstPort, ...over });
export const tcp = (dstPort: number, srcPort: number = CLIENT_PORT, over: Partial<TcpSpec> = {}): TcpSpec => ({
  type: 'tcp',
  srcPort,
  dstPort,
  seq: 1000,
  flags: 'S',
  ...over,
});
export const icmp = (icmpType: number, over: Partial<IcmpSpec> = {}): IcmpSpec => ({ type: 'icmp', icmpType, id: 0x77, seq: 1, ...over });
export const icmp6 = (icmpType: number, over: Partial<IcmpSpec> = {}): IcmpSpec => ({ type: 'icmpv6', icmpType, id: 0x77, seq: 1, ...over });
export const payload = (data: string | Uint8Array): PayloadSpec => ({ type: 'payload', data });

export const hopByHop = (over: Partial<Ipv6OptionsSpec> = {}): Ipv6OptionsSpec => ({ type: 'hop-by-hop', ...over });
export const destOpts = (over: Partial<Ipv6OptionsSpec> = {}): Ipv6OptionsSpec => ({ type: 'dest-opts', ...over });
export const routing = (over: Partial<Ipv6RoutingSpec> = {}): Ipv6RoutingSpec => ({ type: 'routing', ...over });
/** IPv6 fragment header; `offset` in bytes (a multiple of 8). */
export const fragment6 = (offset: number, mf: boolean, over: Partial<Ipv6FragmentSpec> = {}): Ipv6FragmentSpec => ({
  type: 'fragment',
  fragmentOffset: offset,
  mf,
  id: 0xabcd,
  ...over,
});

/**
 * An IPv6 Authentication Header (RFC 4302) as raw bytes: the builder has no AH layer, so the
 * layer before it must say `nextHeader: PROTO.AH`. Length `units` counts 4-byte words minus 2
 * (0 → 8 bytes, 1 → 12 bytes).
 */
export const authHeader = (nextHeader: number, units = 1): PayloadSpec => {
  const b = Buffer.alloc((units + 2) * 4);
  b[0] = nextHeader;
  b[1] = units;
  b.writeUInt32BE(0x100, 4); // SPI
  return payload(b);
};

/** Bytes that start like a UDP header to `dstPort` (what a later fragment might carry). */
export const udpLookalike = (dstPort: number, length = 24): PayloadSpec => {
  const b = Buffer.alloc(length, 0x79);
  b.writeUInt16BE(CLIENT_PORT, 0);
  b.writeUInt16BE(dstPort, 2);
  b.writeUInt16BE(length, 4);
  return payload(b);
};

export const frame = (layers: readonly LayerSpec[]): Buffer => buildPacket(layers);

/**
 * Where the headers end: the length of the packet without its trailing payload layers. A
 * program that needs every header sees a complete packet from this many bytes on.
 */
export function headersEnd(layers: readonly LayerSpec[]): number {
  let last = layers.length;
  while (last > 0 && layers[last - 1]!.type === 'payload') last--;
  return buildPacket(layers.slice(0, last)).length;
}

/** A broadcast ARP request who-has IP4.server from the client. */
export function arpRequest(): Buffer {
  const body = Buffer.alloc(28);
  body.writeUInt16BE(1, 0); // Ethernet
  body.writeUInt16BE(ETH_P_IP, 2);
  body[4] = 6;
  body[5] = 4;
  body.writeUInt16BE(1, 6); // request
  Buffer.from(MAC.client.split(':').map((h) => parseInt(h, 16))).copy(body, 8);
  Buffer.from(IP4.client.split('.').map(Number)).copy(body, 14);
  Buffer.from(IP4.server.split('.').map(Number)).copy(body, 24);
  return frame([eth({ dst: MAC.broadcast, etherType: ETH_P_ARP }), payload(body)]);
}
