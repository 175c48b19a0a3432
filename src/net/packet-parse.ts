/**
 * Packet parser: bytes → layers with every field, offset and length. It never throws on packet
 * contents: bytes it cannot decode (unknown protocol, cut short, malformed) become a payload
 * layer, and `truncated`/`issues` say why. Building the parsed layers gives back the same bytes.
 *
 * Two kinds of "short" are told apart: the buffer ending before the headers say it should
 * (truncated: a snaplen or a cut read) and a header claiming more than its enclosing IP packet
 * carries (malformed: an issue, not truncation).
 */
import { formatIp, formatMac, tcpFlagNames } from './packet-fields.js';
import type { ParsedLayer, ParsedLayerOf, ParsedPacket } from './packet-types.js';
import { EtherType, IpProtocol } from './packet-types.js';

export interface ParseOptions {
  /** What the first byte starts: an Ethernet frame (default), an IPv4/IPv6 packet, or either
   *  picked from the version nibble ("ip", as in LINKTYPE_RAW captures). */
  start?: 'eth' | 'ipv4' | 'ipv6' | 'ip';
}

/** At most two VLAN tags are decoded (802.1ad outer + 802.1Q inner), as in the BPF parser. */
const MAX_VLAN_TAGS = 2;

type Step = { kind: 'eth' } | { kind: 'ether'; etherType: number } | { kind: 'ip'; protocol: number } | { kind: 'ipv4' } | { kind: 'ipv6' } | { kind: 'version' } | { kind: 'rest' };

export function parsePacket(data: Uint8Array, options: ParseOptions = {}): ParsedPacket {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parser = new Parser(buf);
  const start = options.start ?? 'eth';
  parser.run(start === 'ip' ? { kind: 'version' } : { kind: start });
  return { layers: parser.layers, truncated: parser.truncated, issues: parser.issues, length: buf.length };
}

/** The first layer of a type, typed (e.g. findLayer(p, 'tcp')?.flags). */
export function findLayer<T extends ParsedLayer['type']>(packet: ParsedPacket, type: T): ParsedLayerOf<T> | undefined {
  return packet.layers.find((layer): layer is ParsedLayerOf<T> => layer.type === type);
}

/** Every layer of a type, outermost first (two VLAN tags, IP in IP). */
export function findLayers<T extends ParsedLayer['type']>(packet: ParsedPacket, type: T): ParsedLayerOf<T>[] {
  return packet.layers.filter((layer): layer is ParsedLayerOf<T> => layer.type === type);
}

class Parser {
  readonly layers: ParsedLayer[] = [];
  readonly issues: string[] = [];
  truncated = false;
  private pos = 0;
  /** Where the innermost IP packet ends by its length field, clipped to the buffer. */
  private end: number;
  /** Where it ends by its length field; Infinity before any IP header. */
  private declaredEnd = Infinity;
  private vlanTags = 0;
  /** Inside a first fragment: transport lengths describe the whole datagram, not this part. */
  private fragment = false;

  constructor(private readonly buf: Buffer) {
    this.end = buf.length;
  }

  run(first: Step): void {
    let step: Step | undefined = first;
    while (step) step = this.step(step);
    this.rest();
    if (this.end < this.buf.length) {
      const data = this.buf.subarray(this.end);
      this.layers.push({ type: 'trailer', data, offset: this.end, length: data.length });
    }
  }

  private step(step: Step): Step | undefined {
    switch (step.kind) {
      case 'eth':
        return this.ethernet();
      case 'ether':
        return this.byEtherType(step.etherType);
      case 'version':
        if (!this.need(1, 'ip')) return undefined;
        return (this.buf[this.pos]! >> 4) === 6 ? { kind: 'ipv6' } : { kind: 'ipv4' };
      case 'ipv4':
        return this.ipv4();
      case 'ipv6':
        return this.ipv6();
      case 'ip':
        return this.byProtocol(step.protocol);
      case 'rest':
        return undefined;
    }
  }

  private byEtherType(etherType: number): Step | undefined {
    switch (etherType) {
      case EtherType.VLAN:
      case EtherType.QinQ:
        if (this.vlanTags >= MAX_VLAN_TAGS) {
          this.rest(`more than ${MAX_VLAN_TAGS} VLAN tags`);
          return undefined;
        }
        return this.vlan(etherType);
      case EtherType.IPv4:
        return { kind: 'ipv4' };
      case EtherType.IPv6:
        return { kind: 'ipv6' };
      default:
        return undefined;
    }
  }

  private byProtocol(protocol: number): Step | undefined {
    switch (protocol) {
      case IpProtocol.TCP:
        return this.tcp();
      case IpProtocol.UDP:
        return this.udp();
      case IpProtocol.ICMP:
        return this.icmp('icmp');
      case IpProtocol.ICMPV6:
        return this.icmp('icmpv6');
      case IpProtocol.IPIP:
        return { kind: 'ipv4' };
      case IpProtocol.IPV6:
        return { kind: 'ipv6' };
      case IpProtocol.HOPOPTS:
      case IpProtocol.DSTOPTS:
        return this.ipv6Options(protocol === IpProtocol.HOPOPTS ? 'hop-by-hop' : 'dest-opts');
      case IpProtocol.ROUTING:
        return this.ipv6Routing();
      case IpProtocol.FRAGMENT:
        return this.ipv6Fragment();
      default:
        return undefined;
    }
  }

  /**
   * True when `bytes` more are there. Otherwise the rest becomes payload, flagged truncated when
   * the buffer ran out, or malformed when the enclosing IP packet is simply too short.
   */
  private need(bytes: number, what: string): boolean {
    const available = this.end - this.pos;
    if (available >= bytes) return true;
    const cut = this.end === this.buf.length && this.declaredEnd >= this.buf.length;
    const issue = `${what}: header needs ${bytes} bytes, ${available} ${cut ? 'captured' : 'left in the IP packet'}`;
    this.rest(issue, cut);
    return false;
  }

  /** Whatever is left up to the end of the IP packet, as a payload layer. */
  private rest(issue?: string, truncated = false): void {
    if (issue) this.issues.push(`at ${this.pos}: ${issue}`);
    if (truncated) this.truncated = true;
    if (this.pos >= this.end) return;
    const data = this.buf.subarray(this.pos, this.end);
    this.layers.push({
      type: 'payload',
      data,
      offset: this.pos,
      length: data.length,
      ...(truncated ? { truncated } : {}),
      ...(issue ? { issue } : {}),
    });
    this.pos = this.end;
  }

  private push(layer: ParsedLayer): void {
    this.layers.push(layer);
    this.pos += layer.length;
  }

  /** An IP header sets the end of its payload; more than the buffer holds is truncation. */
  private limit(declaredEnd: number, layer: ParsedLayer, what: string): void {
    if (declaredEnd > this.declaredEnd) {
      this.issues.push(`at ${layer.offset}: ${what} reaches past the end of the enclosing IP packet`);
      layer.issue = `${what} reaches past the enclosing packet`;
    }
    if (declaredEnd > this.buf.length) {
      this.truncated = true;
      layer.truncated = true;
      this.issues.push(`at ${layer.offset}: ${what} is ${declaredEnd - layer.offset} bytes, ${this.buf.length - layer.offset} captured`);
    }
    this.declaredEnd = declaredEnd;
    this.end = Math.min(this.end, declaredEnd);
  }

  private ethernet(): Step | undefined {
    if (!this.need(14, 'eth')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const etherType = b.readUInt16BE(p + 12);
    this.push({ type: 'eth', dst: formatMac(b.subarray(p, p + 6)), src: formatMac(b.subarray(p + 6, p + 12)), etherType, offset: p, length: 14 });
    return { kind: 'ether', etherType };
  }

  private vlan(tpid: number): Step | undefined {
    if (!this.need(4, 'vlan')) return undefined;
    const tci = this.buf.readUInt16BE(this.pos);
    const etherType = this.buf.readUInt16BE(this.pos + 2);
    this.vlanTags++;
    this.push({ type: 'vlan', tpid, pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0xfff, etherType, offset: this.pos, length: 4 });
    return { kind: 'ether', etherType };
  }

  private ipv4(): Step | undefined {
    if (!this.need(20, 'ipv4')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const version = b[p]! >> 4;
    const ihl = b[p]! & 0x0f;
    if (version !== 4) return this.stop(`ipv4: version field is ${version}`);
    if (ihl < 5) return this.stop(`ipv4: header length ${ihl * 4} is below 20`);
    if (!this.need(ihl * 4, 'ipv4 with options')) return undefined;
    const totalLength = b.readUInt16BE(p + 2);
    const fragment = b.readUInt16BE(p + 6);
    const layer: ParsedLayerOf<'ipv4'> = {
      type: 'ipv4',
      src: formatIp(b.subarray(p + 12, p + 16)),
      dst: formatIp(b.subarray(p + 16, p + 20)),
      tos: b[p + 1]!,
      id: b.readUInt16BE(p + 4),
      reservedFlag: (fragment & 0x8000) !== 0,
      df: (fragment & 0x4000) !== 0,
      mf: (fragment & 0x2000) !== 0,
      fragmentOffset: (fragment & 0x1fff) * 8,
      ttl: b[p + 8]!,
      protocol: b[p + 9]!,
      checksum: b.readUInt16BE(p + 10),
      totalLength,
      ihl,
      options: b.subarray(p + 20, p + ihl * 4),
      offset: p,
      length: ihl * 4,
    };
    this.push(layer);
    if (totalLength < ihl * 4) {
      layer.issue = `total length ${totalLength} is shorter than the header`;
      return this.stop(`ipv4: ${layer.issue}`);
    }
    this.limit(p + totalLength, layer, 'ipv4 total length');
    this.fragment = layer.mf || layer.fragmentOffset !== 0;
    // A later fragment carries no transport header: the rest is payload.
    if (layer.fragmentOffset !== 0) return undefined;
    return { kind: 'ip', protocol: layer.protocol };
  }

  private ipv6(): Step | undefined {
    if (!this.need(40, 'ipv6')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const first = b.readUInt32BE(p);
    const version = first >>> 28;
    if (version !== 6) return this.stop(`ipv6: version field is ${version}`);
    const layer: ParsedLayerOf<'ipv6'> = {
      type: 'ipv6',
      src: formatIp(b.subarray(p + 8, p + 24)),
      dst: formatIp(b.subarray(p + 24, p + 40)),
      trafficClass: (first >>> 20) & 0xff,
      flowLabel: first & 0xfffff,
      hopLimit: b[p + 7]!,
      nextHeader: b[p + 6]!,
      payloadLength: b.readUInt16BE(p + 4),
      offset: p,
      length: 40,
    };
    this.push(layer);
    this.fragment = false;
    this.limit(p + 40 + layer.payloadLength, layer, 'ipv6 payload length');
    return { kind: 'ip', protocol: layer.nextHeader };
  }

  private ipv6Options(type: 'hop-by-hop' | 'dest-opts'): Step | undefined {
    if (!this.need(2, type)) return undefined;
    const length = (this.buf[this.pos + 1]! + 1) * 8;
    if (!this.need(length, type)) return undefined;
    const p = this.pos;
    const nextHeader = this.buf[p]!;
    this.push({ type, nextHeader, options: this.buf.subarray(p + 2, p + length), offset: p, length });
    return { kind: 'ip', protocol: nextHeader };
  }

  private ipv6Routing(): Step | undefined {
    if (!this.need(2, 'routing')) return undefined;
    const length = (this.buf[this.pos + 1]! + 1) * 8;
    if (!this.need(length, 'routing')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const nextHeader = b[p]!;
    this.push({ type: 'routing', nextHeader, routingType: b[p + 2]!, segmentsLeft: b[p + 3]!, data: b.subarray(p + 4, p + length), offset: p, length });
    return { kind: 'ip', protocol: nextHeader };
  }

  private ipv6Fragment(): Step | undefined {
    if (!this.need(8, 'fragment')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const word = b.readUInt16BE(p + 2);
    const layer: ParsedLayerOf<'fragment'> = {
      type: 'fragment',
      nextHeader: b[p]!,
      reserved: b[p + 1]!,
      fragmentOffset: (word >> 3) * 8,
      reservedBits: (word >> 1) & 3,
      mf: (word & 1) !== 0,
      id: b.readUInt32BE(p + 4),
      offset: p,
      length: 8,
    };
    this.push(layer);
    this.fragment = layer.mf || layer.fragmentOffset !== 0;
    if (layer.fragmentOffset !== 0) return undefined;
    return { kind: 'ip', protocol: layer.nextHeader };
  }

  private tcp(): Step | undefined {
    if (!this.need(20, 'tcp')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const dataOffset = b[p + 12]! >> 4;
    if (dataOffset < 5) return this.stop(`tcp: data offset ${dataOffset * 4} is below 20`);
    if (!this.need(dataOffset * 4, 'tcp with options')) return undefined;
    const flags = ((b[p + 12]! & 1) << 8) | b[p + 13]!;
    this.push({
      type: 'tcp',
      srcPort: b.readUInt16BE(p),
      dstPort: b.readUInt16BE(p + 2),
      seq: b.readUInt32BE(p + 4),
      ack: b.readUInt32BE(p + 8),
      dataOffset,
      reserved: (b[p + 12]! >> 1) & 7,
      flags,
      flagNames: tcpFlagNames(flags),
      window: b.readUInt16BE(p + 14),
      checksum: b.readUInt16BE(p + 16),
      urgent: b.readUInt16BE(p + 18),
      options: b.subarray(p + 20, p + dataOffset * 4),
      offset: p,
      length: dataOffset * 4,
    });
    return { kind: 'rest' };
  }

  private udp(): Step | undefined {
    if (!this.need(8, 'udp')) return undefined;
    const b = this.buf;
    const p = this.pos;
    const udpLength = b.readUInt16BE(p + 4);
    const layer: ParsedLayerOf<'udp'> = {
      type: 'udp',
      srcPort: b.readUInt16BE(p),
      dstPort: b.readUInt16BE(p + 2),
      udpLength,
      checksum: b.readUInt16BE(p + 6),
      offset: p,
      length: 8,
    };
    this.push(layer);
    // The data runs to the end of the IP packet either way; a length that disagrees is noted.
    // In a first fragment the UDP length counts the whole datagram, so it may only be longer.
    const declared = (Number.isFinite(this.declaredEnd) ? this.declaredEnd : this.end) - p;
    if (udpLength < 8) {
      layer.issue = `UDP length ${udpLength} is below 8`;
    } else if (this.fragment ? udpLength < declared : udpLength !== declared) {
      layer.issue = `UDP length ${udpLength} differs from the ${declared} bytes the IP packet carries`;
    } else if (!this.fragment && p + udpLength > this.buf.length) {
      // Consistent with the IP header, which already counted the missing bytes.
      layer.truncated = true;
      this.truncated = true;
    }
    if (layer.issue) this.issues.push(`at ${p}: ${layer.issue}`);
    return { kind: 'rest' };
  }

  private icmp(type: 'icmp' | 'icmpv6'): Step | undefined {
    if (!this.need(8, type)) return undefined;
    const b = this.buf;
    const p = this.pos;
    this.push({ type, icmpType: b[p]!, code: b[p + 1]!, checksum: b.readUInt16BE(p + 2), id: b.readUInt16BE(p + 4), seq: b.readUInt16BE(p + 6), offset: p, length: 8 });
    return { kind: 'rest' };
  }

  /** Malformed (not truncated): the rest is payload, with the reason. */
  private stop(issue: string): undefined {
    this.rest(issue);
    return undefined;
  }
}
