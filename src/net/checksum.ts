/**
 * The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers. Kept apart from the
 * builder so tests and checks of rewritten packets (NAT, reflect) can use the same arithmetic.
 */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../bpf/errors.js';

/** One's-complement sum of 16-bit big-endian words, not yet folded or inverted. */
export function onesSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  // An odd trailing byte is padded with a zero byte on the right (RFC 1071).
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  // Fold now and then so the JS number never loses precision on huge inputs.
  return fold(sum);
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value: the inverted folded sum of every chunk. */
export function internetChecksum(...chunks: Uint8Array[]): number {
  let sum = 0;
  for (const chunk of chunks) sum = onesSum(chunk, sum);
  return ~fold(sum) & 0xffff;
}

/** Bytes of an address string (IPv4 dotted quad or IPv6). */
export function addressBytes(address: string): Uint8Array {
  if (!ipaddr.isValid(address)) throw new InvalidArgumentError(`"${address}" is not an IP address`);
  return Uint8Array.from(ipaddr.parse(address).toByteArray());
}

/**
 * The pseudo-header TCP, UDP and ICMPv6 checksums cover: IPv4 (RFC 793: src, dst, zero,
 * protocol, length) or IPv6 (RFC 8200 §8.1: src, dst, 32-bit length, 3 zero bytes, next header),
 * chosen by the address family of `src`.
 */
export function pseudoHeader(src: string, dst: string, protocol: number, length: number): Buffer {
  const s = addressBytes(src);
  const d = addressBytes(dst);
  if (s.length !== d.length) throw new InvalidArgumentError(`pseudo-header: ${src} and ${dst} are of different address families`);
  if (s.length === 4) {
    const b = Buffer.alloc(12);
    b.set(s, 0);
    b.set(d, 4);
    b[9] = protocol;
    b.writeUInt16BE(length & 0xffff, 10);
    return b;
  }
  const b = Buffer.alloc(40);
  b.set(s, 0);
  b.set(d, 16);
  b.writeUInt32BE(length >>> 0, 32);
  b[39] = protocol;
  return b;
}

/**
 * Checksum of a transport segment whose checksum field is still zero (or whose field should be
 * ignored: pass `fieldOffset` to skip it). Used by the builder and by the verifier.
 */
export function transportChecksum(src: string, dst: string, protocol: number, segment: Uint8Array, fieldOffset?: number): number {
  const data = fieldOffset === undefined ? segment : withZeroedField(segment, fieldOffset);
  return internetChecksum(pseudoHeader(src, dst, protocol, segment.length), data);
}

/** IPv4 header checksum of `header` (its own checksum field, bytes 10–11, is ignored). */
export function ipv4HeaderChecksum(header: Uint8Array): number {
  return internetChecksum(withZeroedField(header, 10));
}

function withZeroedField(data: Uint8Array, offset: number): Uint8Array {
  const copy = Uint8Array.from(data);
  if (offset + 1 < copy.length) {
    copy[offset] = 0;
    copy[offset + 1] = 0;
  } else if (offset < copy.length) {
    copy[offset] = 0;
  }
  return copy;
}
