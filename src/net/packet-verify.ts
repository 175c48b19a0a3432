/**
 * Checksum verification of whole packets: every IPv4 header, TCP, UDP, ICMP and ICMPv6
 * checksum compared with what it should be. Kernel tests use it to assert that a packet an
 * XDP program rewrote (NAT, reflect, MAC swap) is still one the stack would accept.
 */
import { InvalidArgumentError } from '../bpf/errors.js';
import { internetChecksum, ipv4HeaderChecksum, transportChecksum } from './checksum.js';
import { parsePacket, type ParseOptions } from './packet-parse.js';
import type { ParsedIpv4, ParsedIpv6, ParsedLayer } from './packet-types.js';
import { IpProtocol } from './packet-types.js';

export interface ChecksumCheck {
  layer: 'ipv4' | 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  /** Offset of the layer; the checksum field sits at a fixed place inside it. */
  offset: number;
  /** Offset of the 16-bit checksum field itself. */
  fieldOffset: number;
  stored: number;
  /** What the field should hold (undefined when unchecked). */
  expected: number | undefined;
  status: 'valid' | 'invalid' | 'unchecked';
  /** Why a checksum was not checked (fragment, truncated) or is valid in a special way. */
  reason?: string;
}

const FIELD_OFFSET = { ipv4: 10, tcp: 16, udp: 6, icmp: 2, icmpv6: 2 } as const;

/** Checks every checksum in the packet, outermost first. */
export function verifyChecksums(data: Uint8Array, options: ParseOptions = {}): ChecksumCheck[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const packet = parsePacket(buf, options);
  const checks: ChecksumCheck[] = [];
  let ip: { layer: ParsedIpv4 | ParsedIpv6; end: number; fragment: boolean } | undefined;

  for (const layer of packet.layers) {
    switch (layer.type) {
      case 'ipv4': {
        const header = buf.subarray(layer.offset, layer.offset + layer.length);
        checks.push(check('ipv4', layer, layer.checksum, ipv4HeaderChecksum(header)));
        ip = { layer, end: layer.offset + Math.max(layer.totalLength, layer.length), fragment: layer.mf || layer.fragmentOffset !== 0 };
        break;
      }
      case 'ipv6':
        ip = { layer, end: layer.offset + 40 + layer.payloadLength, fragment: false };
        break;
      case 'fragment':
        if (ip) ip.fragment = true;
        break;
      case 'tcp':
      case 'udp':
      case 'icmp':
      case 'icmpv6':
        checks.push(transportCheck(buf, layer, ip));
        break;
      default:
        break;
    }
  }
  return checks;
}

/** True when no checksum in the packet is wrong (unchecked ones do not count against it). */
export function checksumsValid(data: Uint8Array, options: ParseOptions = {}): boolean {
  return verifyChecksums(data, options).every((c) => c.status !== 'invalid');
}

/** Throws an InvalidArgumentError naming every wrong checksum, with stored and expected values. */
export function assertChecksumsValid(data: Uint8Array, options: ParseOptions = {}): void {
  const bad = verifyChecksums(data, options).filter((c) => c.status === 'invalid');
  if (bad.length === 0) return;
  const list = bad.map((c) => `${c.layer} at ${c.offset}: 0x${hex(c.stored)}, should be 0x${hex(c.expected ?? 0)}`).join('; ');
  throw new InvalidArgumentError(`wrong checksum${bad.length > 1 ? 's' : ''}: ${list}`);
}

/** A copy of the packet with every wrong checksum replaced by the right one. */
export function recomputeChecksums(data: Uint8Array, options: ParseOptions = {}): Buffer {
  const out = Buffer.from(data);
  for (const c of verifyChecksums(out, options)) {
    if (c.status === 'invalid' && c.expected !== undefined) out.writeUInt16BE(c.expected, c.fieldOffset);
  }
  return out;
}

function hex(value: number): string {
  return value.toString(16).padStart(4, '0');
}

function check(layer: ChecksumCheck['layer'], parsed: ParsedLayer, stored: number, expected: number, reason?: string): ChecksumCheck {
  return {
    layer,
    offset: parsed.offset,
    fieldOffset: parsed.offset + FIELD_OFFSET[layer],
    stored,
    expected,
    status: stored === expected ? 'valid' : 'invalid',
    ...(reason ? { reason } : {}),
  };
}

function unchecked(layer: ChecksumCheck['layer'], parsed: ParsedLayer, stored: number, reason: string): ChecksumCheck {
  return { layer, offset: parsed.offset, fieldOffset: parsed.offset + FIELD_OFFSET[layer], stored, expected: undefined, status: 'unchecked', reason };
}

function transportCheck(
  buf: Buffer,
  layer: Extract<ParsedLayer, { type: 'tcp' | 'udp' | 'icmp' | 'icmpv6' }>,
  ip: { layer: ParsedIpv4 | ParsedIpv6; end: number; fragment: boolean } | undefined,
): ChecksumCheck {
  const kind = layer.type;
  if (!ip) return unchecked(kind, layer, layer.checksum, 'no IP header before it');
  if (ip.fragment) return unchecked(kind, layer, layer.checksum, 'fragment: the checksum covers the whole reassembled datagram');
  if (ip.end > buf.length) return unchecked(kind, layer, layer.checksum, 'truncated: the covered bytes were not all captured');

  let end = ip.end;
  if (kind === 'udp') {
    // Zero over IPv4 means the sender computed none (RFC 768); IPv6 forbids it (RFC 8200 §8.1).
    if (layer.checksum === 0 && ip.layer.type === 'ipv4') {
      return check(kind, layer, 0, 0, 'no checksum (0 is allowed over IPv4)');
    }
    // The kernel checks the bytes the UDP length covers; a valid length trims the IP payload.
    if (layer.udpLength >= 8 && layer.offset + layer.udpLength <= ip.end) end = layer.offset + layer.udpLength;
  }
  const segment = buf.subarray(layer.offset, end);
  const field = FIELD_OFFSET[kind];
  let expected: number;
  if (kind === 'icmp') {
    const copy = Buffer.from(segment);
    copy.writeUInt16BE(0, field);
    expected = internetChecksum(copy);
  } else {
    const protocol = kind === 'tcp' ? IpProtocol.TCP : kind === 'udp' ? IpProtocol.UDP : IpProtocol.ICMPV6;
    expected = transportChecksum(ip.layer.src, ip.layer.dst, protocol, segment, field);
    if (kind === 'udp' && expected === 0) expected = 0xffff;
  }
  return check(kind, layer, layer.checksum, expected);
}
