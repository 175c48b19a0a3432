/**
 * Declarative packet builder: a list of layers (outermost first) → the bytes on the wire.
 * Lengths, checksums and next-protocol numbers are derived unless the spec sets them, so a
 * test can state only what it cares about, and still craft wrong values on purpose.
 *
 * Layers are encoded from the innermost out: each header is written knowing the bytes it
 * carries (for its lengths and checksums) and the layer after it (for its protocol field).
 */
import { InvalidArgumentError } from '../bpf/errors.js';
import { internetChecksum, pseudoHeader } from './checksum.js';
import { ipBytes, macBytes, tcpFlagsFromString } from './packet-fields.js';
import type {
  EthernetSpec,
  IcmpSpec,
  Ipv4Spec,
  Ipv6FragmentSpec,
  Ipv6OptionsSpec,
  Ipv6RoutingSpec,
  Ipv6Spec,
  LayerSpec,
  TcpSpec,
  TrailerSpec,
  UdpSpec,
  VlanSpec,
} from './packet-types.js';
import { EtherType, IpProtocol } from './packet-types.js';

export interface BuildOptions {
  /** Pad the frame with zero bytes up to this length (60 = the Ethernet minimum without FCS). */
  padTo?: number;
}

export function buildPacket(layers: readonly LayerSpec[], options: BuildOptions = {}): Buffer {
  const firstTrailer = layers.findIndex((layer) => layer.type === 'trailer');
  if (firstTrailer >= 0 && layers.slice(firstTrailer).some((layer) => layer.type !== 'trailer')) {
    throw new InvalidArgumentError('a trailer layer must come after every other layer');
  }
  const body = firstTrailer >= 0 ? layers.slice(0, firstTrailer) : layers;
  const trailers = firstTrailer >= 0 ? layers.slice(firstTrailer) : [];

  let tail: Buffer = Buffer.alloc(0);
  for (let i = body.length - 1; i >= 0; i--) {
    const header = encodeLayer(body, i, tail);
    tail = Buffer.concat([header, tail]);
  }
  const parts = [tail, ...trailers.map((t) => Buffer.from((t as TrailerSpec).data))];
  const frame = Buffer.concat(parts);
  if (options.padTo !== undefined && frame.length < options.padTo) {
    return Buffer.concat([frame, Buffer.alloc(options.padTo - frame.length)]);
  }
  return frame;
}

function encodeLayer(layers: readonly LayerSpec[], index: number, tail: Buffer): Buffer {
  const layer = layers[index]!;
  const next = layers[index + 1];
  switch (layer.type) {
    case 'eth':
      return encodeEthernet(layer, next);
    case 'vlan':
      return encodeVlan(layer, next);
    case 'ipv4':
      return encodeIpv4(layer, next, tail);
    case 'ipv6':
      return encodeIpv6(layer, next, tail);
    case 'hop-by-hop':
    case 'dest-opts':
      return encodeIpv6Options(layer, next);
    case 'routing':
      return encodeIpv6Routing(layer, next);
    case 'fragment':
      return encodeIpv6Fragment(layer, next);
    case 'tcp':
      return encodeTcp(layer, tail, enclosingIp(layers, index));
    case 'udp':
      return encodeUdp(layer, tail, enclosingIp(layers, index));
    case 'icmp':
    case 'icmpv6':
      return encodeIcmp(layer, tail, enclosingIp(layers, index));
    case 'payload':
      return typeof layer.data === 'string' ? Buffer.from(layer.data, 'utf8') : Buffer.from(layer.data);
    case 'trailer':
      throw new InvalidArgumentError('a trailer layer must come after every other layer');
  }
}

/** The nearest IP header before a transport layer: its addresses feed the pseudo-header. */
function enclosingIp(layers: readonly LayerSpec[], index: number): Ipv4Spec | Ipv6Spec | undefined {
  for (let i = index - 1; i >= 0; i--) {
    const layer = layers[i]!;
    if (layer.type === 'ipv4' || layer.type === 'ipv6') return layer;
  }
  return undefined;
}

function etherTypeFor(layer: { type: string; etherType?: number }, next: LayerSpec | undefined): number {
  if (layer.etherType !== undefined) return checkRange(layer.etherType, 0xffff, 'etherType');
  switch (next?.type) {
    case 'vlan':
      return next.tpid ?? EtherType.VLAN;
    case 'ipv4':
      return EtherType.IPv4;
    case 'ipv6':
      return EtherType.IPv6;
    default:
      throw new InvalidArgumentError(`${layer.type} layer needs an explicit etherType before ${next ? `a ${next.type} layer` : 'the end of the packet'}`);
  }
}

function protocolFor(next: LayerSpec | undefined): number | undefined {
  switch (next?.type) {
    case 'tcp':
      return IpProtocol.TCP;
    case 'udp':
      return IpProtocol.UDP;
    case 'icmp':
      return IpProtocol.ICMP;
    case 'icmpv6':
      return IpProtocol.ICMPV6;
    case 'ipv4':
      return IpProtocol.IPIP;
    case 'ipv6':
      return IpProtocol.IPV6;
    case 'hop-by-hop':
      return IpProtocol.HOPOPTS;
    case 'routing':
      return IpProtocol.ROUTING;
    case 'fragment':
      return IpProtocol.FRAGMENT;
    case 'dest-opts':
      return IpProtocol.DSTOPTS;
    default:
      return undefined;
  }
}

/** IPv6 and its extension headers: "No Next Header" when nothing follows. */
function nextHeaderFor(layer: { type: string; nextHeader?: number }, next: LayerSpec | undefined): number {
  if (layer.nextHeader !== undefined) return checkRange(layer.nextHeader, 0xff, 'nextHeader');
  const derived = protocolFor(next);
  if (derived !== undefined) return derived;
  if (next === undefined) return IpProtocol.NONE;
  throw new InvalidArgumentError(`${layer.type} layer needs an explicit nextHeader before a ${next.type} layer`);
}

function checkRange(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${field} ${value} is out of range (0..${max})`);
  }
  return value;
}

function checkFragmentOffset(offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset % 8 !== 0 || offset > 0x1fff * 8) {
    throw new InvalidArgumentError(`fragmentOffset ${offset} must be a multiple of 8 between 0 and ${0x1fff * 8} (bytes)`);
  }
  return offset / 8;
}

function encodeEthernet(layer: EthernetSpec, next: LayerSpec | undefined): Buffer {
  const b = Buffer.alloc(14);
  macBytes(layer.dst ?? '02:00:00:00:00:02').copy(b, 0);
  macBytes(layer.src ?? '02:00:00:00:00:01').copy(b, 6);
  b.writeUInt16BE(etherTypeFor(layer, next), 12);
  return b;
}

function encodeVlan(layer: VlanSpec, next: LayerSpec | undefined): Buffer {
  const b = Buffer.alloc(4);
  const tci = (checkRange(layer.pcp ?? 0, 7, 'pcp') << 13) | ((layer.dei ? 1 : 0) << 12) | checkRange(layer.vid, 0xfff, 'vid');
  b.writeUInt16BE(tci, 0);
  b.writeUInt16BE(etherTypeFor(layer, next), 2);
  return b;
}

/** Pads to a multiple of `unit` with zero bytes (IPv4 and TCP End-of-Options). */
function padZero(data: Uint8Array | undefined, unit: number): Buffer {
  const bytes = Buffer.from(data ?? []);
  const pad = (unit - (bytes.length % unit)) % unit;
  return pad === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(pad)]);
}

function encodeIpv4(layer: Ipv4Spec, next: LayerSpec | undefined, tail: Buffer): Buffer {
  const options = padZero(layer.options, 4);
  const headerLength = 20 + options.length;
  if (headerLength > 60) throw new InvalidArgumentError(`IPv4 options are ${options.length} bytes, at most 40 fit`);
  const protocol = layer.protocol ?? protocolFor(next);
  if (protocol === undefined) {
    throw new InvalidArgumentError(`ipv4 layer needs an explicit protocol before ${next ? `a ${next.type} layer` : 'the end of the packet'}`);
  }
  const totalLength = layer.totalLength ?? headerLength + tail.length;
  const b = Buffer.alloc(headerLength);
  b[0] = 0x40 | checkRange(layer.ihl ?? headerLength / 4, 15, 'ihl');
  b[1] = checkRange(layer.tos ?? 0, 0xff, 'tos');
  b.writeUInt16BE(checkRange(totalLength, 0xffff, 'IPv4 totalLength'), 2);
  b.writeUInt16BE(checkRange(layer.id ?? 0, 0xffff, 'id'), 4);
  const flags = (layer.reservedFlag ? 0x8000 : 0) | (layer.df ? 0x4000 : 0) | (layer.mf ? 0x2000 : 0);
  b.writeUInt16BE(flags | checkFragmentOffset(layer.fragmentOffset ?? 0), 6);
  b[8] = checkRange(layer.ttl ?? 64, 0xff, 'ttl');
  b[9] = checkRange(protocol, 0xff, 'protocol');
  ipBytes(layer.src, 4, 'ipv4 src').copy(b, 12);
  ipBytes(layer.dst, 4, 'ipv4 dst').copy(b, 16);
  options.copy(b, 20);
  b.writeUInt16BE(layer.checksum ?? internetChecksum(b), 10);
  return b;
}

function encodeIpv6(layer: Ipv6Spec, next: LayerSpec | undefined, tail: Buffer): Buffer {
  const b = Buffer.alloc(40);
  const first =
    (6 << 28) | (checkRange(layer.trafficClass ?? 0, 0xff, 'trafficClass') << 20) | checkRange(layer.flowLabel ?? 0, 0xfffff, 'flowLabel');
  b.writeUInt32BE(first >>> 0, 0);
  b.writeUInt16BE(checkRange(layer.payloadLength ?? tail.length, 0xffff, 'IPv6 payloadLength'), 4);
  b[6] = nextHeaderFor(layer, next);
  b[7] = checkRange(layer.hopLimit ?? 64, 0xff, 'hopLimit');
  ipBytes(layer.src, 6, 'ipv6 src').copy(b, 8);
  ipBytes(layer.dst, 6, 'ipv6 dst').copy(b, 24);
  return b;
}

/** Hop-by-hop / destination options: pad with Pad1 or PadN (RFC 8200 §4.2) to 8-byte units. */
function encodeIpv6Options(layer: Ipv6OptionsSpec, next: LayerSpec | undefined): Buffer {
  const options = Buffer.from(layer.options ?? []);
  const pad = (8 - ((2 + options.length) % 8)) % 8;
  const padding = pad === 0 ? Buffer.alloc(0) : pad === 1 ? Buffer.from([0]) : Buffer.concat([Buffer.from([1, pad - 2]), Buffer.alloc(pad - 2)]);
  const length = 2 + options.length + pad;
  const b = Buffer.concat([Buffer.from([nextHeaderFor(layer, next), checkRange(length / 8 - 1, 0xff, 'hdrExtLen')]), options, padding]);
  return b;
}

function encodeIpv6Routing(layer: Ipv6RoutingSpec, next: LayerSpec | undefined): Buffer {
  const data = Buffer.from(layer.data ?? []);
  const length = Math.max(8, Math.ceil((4 + data.length) / 8) * 8);
  const b = Buffer.alloc(length);
  b[0] = nextHeaderFor(layer, next);
  b[1] = checkRange(length / 8 - 1, 0xff, 'hdrExtLen');
  b[2] = checkRange(layer.routingType ?? 0, 0xff, 'routingType');
  b[3] = checkRange(layer.segmentsLeft ?? 0, 0xff, 'segmentsLeft');
  data.copy(b, 4);
  return b;
}

function encodeIpv6Fragment(layer: Ipv6FragmentSpec, next: LayerSpec | undefined): Buffer {
  const b = Buffer.alloc(8);
  b[0] = nextHeaderFor(layer, next);
  b[1] = checkRange(layer.reserved ?? 0, 0xff, 'reserved');
  const word = (checkFragmentOffset(layer.fragmentOffset ?? 0) << 3) | (checkRange(layer.reservedBits ?? 0, 3, 'reservedBits') << 1) | (layer.mf ? 1 : 0);
  b.writeUInt16BE(word, 2);
  b.writeUInt32BE(checkRange(layer.id ?? 0, 0xffffffff, 'id'), 4);
  return b;
}

function encodeTcp(layer: TcpSpec, tail: Buffer, ip: Ipv4Spec | Ipv6Spec | undefined): Buffer {
  const options = padZero(layer.options, 4);
  const headerLength = 20 + options.length;
  if (headerLength > 60) throw new InvalidArgumentError(`TCP options are ${options.length} bytes, at most 40 fit`);
  const flags = typeof layer.flags === 'string' ? tcpFlagsFromString(layer.flags) : checkRange(layer.flags ?? 0x02, 0x1ff, 'flags');
  const b = Buffer.alloc(headerLength);
  b.writeUInt16BE(checkRange(layer.srcPort, 0xffff, 'srcPort'), 0);
  b.writeUInt16BE(checkRange(layer.dstPort, 0xffff, 'dstPort'), 2);
  b.writeUInt32BE(checkRange(layer.seq ?? 0, 0xffffffff, 'seq'), 4);
  b.writeUInt32BE(checkRange(layer.ack ?? 0, 0xffffffff, 'ack'), 8);
  b[12] = (checkRange(layer.dataOffset ?? headerLength / 4, 15, 'dataOffset') << 4) | (checkRange(layer.reserved ?? 0, 7, 'reserved') << 1) | (flags >> 8);
  b[13] = flags & 0xff;
  b.writeUInt16BE(checkRange(layer.window ?? 65535, 0xffff, 'window'), 14);
  b.writeUInt16BE(checkRange(layer.urgent ?? 0, 0xffff, 'urgent'), 18);
  options.copy(b, 20);
  const checksum = layer.checksum ?? (ip ? l4Checksum(ip, IpProtocol.TCP, b, tail) : 0);
  b.writeUInt16BE(checkRange(checksum, 0xffff, 'checksum'), 16);
  return b;
}

function encodeUdp(layer: UdpSpec, tail: Buffer, ip: Ipv4Spec | Ipv6Spec | undefined): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(checkRange(layer.srcPort, 0xffff, 'srcPort'), 0);
  b.writeUInt16BE(checkRange(layer.dstPort, 0xffff, 'dstPort'), 2);
  b.writeUInt16BE(checkRange(layer.udpLength ?? 8 + tail.length, 0xffff, 'UDP length'), 4);
  let checksum = layer.checksum;
  if (checksum === undefined) {
    // A computed zero is sent as all ones: zero on the wire means "no checksum" (RFC 768).
    checksum = ip ? l4Checksum(ip, IpProtocol.UDP, b, tail) || 0xffff : 0;
  }
  b.writeUInt16BE(checkRange(checksum, 0xffff, 'checksum'), 6);
  return b;
}

function encodeIcmp(layer: IcmpSpec, tail: Buffer, ip: Ipv4Spec | Ipv6Spec | undefined): Buffer {
  const v6 = layer.type === 'icmpv6';
  const b = Buffer.alloc(8);
  b[0] = checkRange(layer.icmpType ?? (v6 ? 128 : 8), 0xff, 'icmpType');
  b[1] = checkRange(layer.code ?? 0, 0xff, 'code');
  b.writeUInt16BE(checkRange(layer.id ?? 0, 0xffff, 'id'), 4);
  b.writeUInt16BE(checkRange(layer.seq ?? 0, 0xffff, 'seq'), 6);
  let checksum = layer.checksum;
  if (checksum === undefined) {
    // ICMPv6 covers a pseudo-header (RFC 4443 §2.3); ICMP for IPv4 covers only itself.
    if (!v6) checksum = internetChecksum(b, tail);
    else checksum = ip ? l4Checksum(ip, IpProtocol.ICMPV6, b, tail) : 0;
  }
  b.writeUInt16BE(checkRange(checksum, 0xffff, 'checksum'), 2);
  return b;
}

/**
 * Transport checksum with the enclosing IP header's addresses. With an IPv6 routing header the
 * RFC wants the final destination; this uses the IPv6 header's destination (set `checksum`
 * yourself for routed packets with segments left).
 */
function l4Checksum(ip: Ipv4Spec | Ipv6Spec, protocol: number, header: Buffer, tail: Buffer): number {
  // Inner layers are encoded first: check the addresses here for the clearer message.
  const family = ip.type === 'ipv4' ? 4 : 6;
  ipBytes(ip.src, family, `${ip.type} src`);
  ipBytes(ip.dst, family, `${ip.type} dst`);
  return internetChecksum(pseudoHeader(ip.src, ip.dst, protocol, header.length + tail.length), header, tail);
}
