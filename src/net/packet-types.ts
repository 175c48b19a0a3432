/**
 * Packet layers as plain data. A spec (input of buildPacket) leaves out whatever can be derived
 * (lengths, checksums, next-protocol numbers); a parsed layer (output of parsePacket) has every
 * field explicit plus where it sits, so it is itself a valid spec: building the parsed layers
 * gives back the exact bytes, broken checksums and truncation included.
 */

export interface EthernetSpec {
  type: 'eth';
  /** "aa:bb:cc:dd:ee:ff"; defaults 02:00:00:00:00:02 (dst) and 02:00:00:00:00:01 (src). */
  dst?: string;
  src?: string;
  /** Derived from the next layer (VLAN tag's TPID, IPv4, IPv6) when left out. */
  etherType?: number;
}

export interface VlanSpec {
  type: 'vlan';
  /** 0x8100 (802.1Q, the default) or 0x88a8 (802.1ad outer tag); written in the layer before. */
  tpid?: number;
  pcp?: number;
  dei?: boolean;
  vid: number;
  /** EtherType of what follows the tag; derived when left out. */
  etherType?: number;
}

export interface Ipv4Spec {
  type: 'ipv4';
  src: string;
  dst: string;
  tos?: number;
  id?: number;
  /** The reserved ("evil") flag bit; only for crafting odd packets. */
  reservedFlag?: boolean;
  df?: boolean;
  mf?: boolean;
  /** In bytes (a multiple of 8), not in the header's 8-byte units. */
  fragmentOffset?: number;
  ttl?: number;
  /** Derived from the next layer when left out. */
  protocol?: number;
  /** Computed when left out; set it to craft a wrong one. */
  checksum?: number;
  totalLength?: number;
  /** Header length in 32-bit words; derived from the options. */
  ihl?: number;
  /** Raw option bytes; padded with zeros (End of Options) to a multiple of 4. */
  options?: Uint8Array;
}

export interface Ipv6Spec {
  type: 'ipv6';
  src: string;
  dst: string;
  trafficClass?: number;
  flowLabel?: number;
  hopLimit?: number;
  /** Derived from the next layer; 59 (No Next Header) when nothing follows. */
  nextHeader?: number;
  payloadLength?: number;
}

/** Hop-by-hop (0) and destination options (60) headers share one layout. */
export interface Ipv6OptionsSpec {
  type: 'hop-by-hop' | 'dest-opts';
  nextHeader?: number;
  /** Raw TLV options; padded with Pad1/PadN to a multiple of 8 bytes with the 2-byte head. */
  options?: Uint8Array;
}

export interface Ipv6RoutingSpec {
  type: 'routing';
  nextHeader?: number;
  routingType?: number;
  segmentsLeft?: number;
  /** Type-specific bytes after the first four; padded with zeros to a multiple of 8. */
  data?: Uint8Array;
}

export interface Ipv6FragmentSpec {
  type: 'fragment';
  nextHeader?: number;
  /** In bytes (a multiple of 8). */
  fragmentOffset?: number;
  mf?: boolean;
  id?: number;
  /** The reserved byte and the two reserved bits, kept for exact round trips. */
  reserved?: number;
  reservedBits?: number;
}

export interface TcpSpec {
  type: 'tcp';
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** A number (low 9 bits: NS CWR ECE URG ACK PSH RST SYN FIN) or letters like "S", "SA", "PA". */
  flags?: number | string;
  window?: number;
  urgent?: number;
  checksum?: number;
  /** Header length in 32-bit words; derived from the options. */
  dataOffset?: number;
  /** The three reserved bits between data offset and NS. */
  reserved?: number;
  /** Raw option bytes; padded with zeros to a multiple of 4. */
  options?: Uint8Array;
}

export interface UdpSpec {
  type: 'udp';
  srcPort: number;
  dstPort: number;
  /** The UDP length field (header + data); derived when left out. */
  udpLength?: number;
  /** Computed when left out (0 computed is sent as 0xffff); 0 over IPv4 means "no checksum". */
  checksum?: number;
}

/** ICMP and ICMPv6 headers: type, code, checksum, then identifier and sequence (echo layout). */
export interface IcmpSpec {
  type: 'icmp' | 'icmpv6';
  /** Defaults to echo request: 8 for ICMP, 128 for ICMPv6. */
  icmpType?: number;
  code?: number;
  id?: number;
  seq?: number;
  checksum?: number;
}

export interface PayloadSpec {
  type: 'payload';
  /** Bytes, or a string sent as UTF-8. */
  data: Uint8Array | string;
}

/** Bytes after the end of the IP packet (Ethernet padding); outside every length and checksum. */
export interface TrailerSpec {
  type: 'trailer';
  data: Uint8Array;
}

export type LayerSpec =
  | EthernetSpec
  | VlanSpec
  | Ipv4Spec
  | Ipv6Spec
  | Ipv6OptionsSpec
  | Ipv6RoutingSpec
  | Ipv6FragmentSpec
  | TcpSpec
  | UdpSpec
  | IcmpSpec
  | PayloadSpec
  | TrailerSpec;

export type LayerType = LayerSpec['type'];

/** Where a parsed layer sits and what was wrong with it. */
export interface LayerPosition {
  /** Byte offset of the layer in the buffer. */
  offset: number;
  /** Bytes of the layer's own header (payload and trailer: of their data). */
  length: number;
  /** The layer's length fields promise more bytes than the buffer has. */
  truncated?: boolean;
  /** Why these bytes were not decoded further, or what is malformed. */
  issue?: string;
}

type Parsed<T> = Required<T> & LayerPosition;

export type ParsedEthernet = Parsed<EthernetSpec>;
export type ParsedVlan = Parsed<VlanSpec>;
export type ParsedIpv4 = Parsed<Ipv4Spec> & { options: Buffer };
export type ParsedIpv6 = Parsed<Ipv6Spec>;
export type ParsedIpv6Options = Parsed<Ipv6OptionsSpec> & { options: Buffer };
export type ParsedIpv6Routing = Parsed<Ipv6RoutingSpec> & { data: Buffer };
export type ParsedIpv6Fragment = Parsed<Ipv6FragmentSpec>;
export type ParsedTcp = Parsed<Omit<TcpSpec, 'flags'>> & {
  flags: number;
  /** The set flags as letters, lowest bit first (F S R P A U E C N), e.g. "SA" for SYN+ACK. */
  flagNames: string;
  options: Buffer;
};
export type ParsedUdp = Parsed<UdpSpec>;
export type ParsedIcmp = Parsed<IcmpSpec>;
export type ParsedPayload = Parsed<Omit<PayloadSpec, 'data'>> & { data: Buffer };
export type ParsedTrailer = Parsed<TrailerSpec> & { data: Buffer };

export type ParsedLayer =
  | ParsedEthernet
  | ParsedVlan
  | ParsedIpv4
  | ParsedIpv6
  | ParsedIpv6Options
  | ParsedIpv6Routing
  | ParsedIpv6Fragment
  | ParsedTcp
  | ParsedUdp
  | ParsedIcmp
  | ParsedPayload
  | ParsedTrailer;

/** A parsed layer of the given type (e.g. ParsedLayerOf<'tcp'> is ParsedTcp). */
export type ParsedLayerOf<T extends LayerType> = ParsedLayer & { type: T };

export interface ParsedPacket {
  layers: ParsedLayer[];
  /** Some layer says more bytes should follow than the buffer holds (snaplen, short read). */
  truncated: boolean;
  /** Everything malformed or cut short, in layer order; empty for a well-formed packet. */
  issues: string[];
  /** Bytes parsed (the buffer's length). */
  length: number;
}

export const EtherType = { IPv4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QinQ: 0x88a8, IPv6: 0x86dd } as const;

export const IpProtocol = {
  HOPOPTS: 0,
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

/** TCP flag bits, lowest first (FIN = 1 … NS = 256). */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, NS: 0x100 } as const;
