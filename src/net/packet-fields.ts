/** Field codecs shared by the packet builder and parser: MACs, IP addresses, TCP flag letters. */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../bpf/errors.js';

const MAC_RE = /^[0-9a-f]{1,2}([:-][0-9a-f]{1,2}){5}$/i;

/** "aa:bb:cc:dd:ee:ff" (or with dashes) → 6 bytes. */
export function macBytes(mac: string): Buffer {
  if (!MAC_RE.test(mac)) {
    throw new InvalidArgumentError(`invalid MAC address "${mac}"`, { hint: 'write it as six hex bytes: 02:00:00:00:00:01' });
  }
  return Buffer.from(mac.split(/[:-]/).map((part) => parseInt(part, 16)));
}

/** 6 bytes → "aa:bb:cc:dd:ee:ff" (lower case, always two digits). */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Address string → bytes, checking the family the header needs. */
export function ipBytes(address: string, family: 4 | 6, field: string): Buffer {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch (cause) {
    throw new InvalidArgumentError(`invalid ${field} address "${address}"`, { cause });
  }
  const kind = parsed.kind() === 'ipv4' ? 4 : 6;
  // ipaddr.js also takes "127.1" and hex forms; a test that wrote one almost surely erred.
  if (kind === 4 && !ipaddr.IPv4.isValidFourPartDecimal(address)) {
    throw new InvalidArgumentError(`invalid ${field} address "${address}"`, { hint: 'write IPv4 as four decimal parts: 198.18.0.1' });
  }
  if (kind !== family) {
    throw new InvalidArgumentError(`${field} address ${address} is IPv${kind}, the header is IPv${family}`);
  }
  return Buffer.from(parsed.toByteArray());
}

/** 4 or 16 bytes → the canonical text form (RFC 5952 for IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return ipaddr.fromByteArray(Array.from(bytes)).toString();
  return (ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6).toRFC5952String();
}

/** Flag letters from the lowest bit up (scapy's order): SYN+ACK reads "SA", PSH+ACK "PA". */
const FLAG_LETTERS = 'FSRPAUECN';

/** "SA" → 0x12; letters in any order, case-insensitive. */
export function tcpFlagsFromString(flags: string): number {
  let value = 0;
  for (const letter of flags.toUpperCase()) {
    const bit = FLAG_LETTERS.indexOf(letter);
    if (bit < 0) {
      throw new InvalidArgumentError(`unknown TCP flag "${letter}" in "${flags}"`, {
        hint: 'use the letters F S R P A U E C N (e.g. "SA" for SYN+ACK)',
      });
    }
    value |= 1 << bit;
  }
  return value;
}

/** 0x12 → "SA". */
export function tcpFlagNames(flags: number): string {
  let out = '';
  for (let bit = 0; bit < FLAG_LETTERS.length; bit++) if (flags & (1 << bit)) out += FLAG_LETTERS[bit];
  return out;
}
