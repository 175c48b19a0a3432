/**
 * Addresses and prefixes as the firewall uses them: network-order bytes (4 or 16) and a prefix
 * length, parsed with ipaddr.js. Host bits must be zero, so a prefix means what it says.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** Network-order address bytes with the host bits zero (4 bytes for IPv4, 16 for IPv6). */
  addr: Uint8Array;
  prefixLen: number;
}

/** Parses "198.18.1.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
 *  Throws an Error whose message says what is wrong and how to fix it. */
export function parseCidr(text: string): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(addrText);
  } catch {
    throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR (write e.g. 198.18.0.0/15 or 2001:db8::/32)`);
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).zoneId !== undefined) {
    throw new Error(`"${text}" has a zone id (%…); write the address without it`);
  }
  const family: Family = addr.kind() === 'ipv4' ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefixLen = max;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
      throw new Error(`"${text}" has prefix length "/${lenText}"; an IPv${family} prefix length is 0..${max}`);
    }
    prefixLen = Number(lenText);
  }
  const bytes = Uint8Array.from(addr.toByteArray());
  const masked = maskBytes(bytes, prefixLen);
  if (!bytesEqual(bytes, masked)) {
    throw new Error(
      `"${text}" has host bits set after /${prefixLen}; write ${formatCidr({ family, addr: masked, prefixLen })}` +
        ` (or ${formatCidr({ family, addr: bytes, prefixLen: max })} for the single address)`,
    );
  }
  return { family, addr: masked, prefixLen };
}

export function formatCidr(c: Cidr): string {
  const a = ipaddr.fromByteArray(Array.from(c.addr)).toString();
  return `${a}/${c.prefixLen}`;
}

export function maskBytes(bytes: Uint8Array, prefixLen: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = bytes[i]! & ((0xff00 >> bits) & 0xff);
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The prefix contains the address (same family, first prefixLen bits equal). */
export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  if (c.addr.length !== addr.length) return false;
  const full = c.prefixLen >> 3;
  for (let i = 0; i < full; i++) if (c.addr[i] !== addr[i]) return false;
  const rem = c.prefixLen & 7;
  if (rem === 0) return true;
  const m = (0xff00 >> rem) & 0xff;
  return (c.addr[full]! & m) === (addr[full]! & m);
}

/** Outer contains inner (inner is equal to or more specific than outer). */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefixLen <= inner.prefixLen && cidrContains(outer, inner.addr);
}

export function cidrKey(c: Cidr): string {
  return `${c.family}:${Buffer.from(c.addr).toString('hex')}/${c.prefixLen}`;
}
