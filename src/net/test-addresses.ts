/**
 * The only addresses the testbed hands out or sends to: 198.18.0.0/15 (RFC 2544 benchmarking)
 * and 2001:db8::/32 (RFC 3849 documentation), plus loopback. Traffic helpers refuse anything
 * else, so a typo in a test can never send packets to a real network.
 */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../bpf/errors.js';

export const TEST_NET_V4 = '198.18.0.0/15';
export const TEST_NET_V6 = '2001:db8::/32';

const RANGES = [ipaddr.parseCIDR(TEST_NET_V4), ipaddr.parseCIDR(TEST_NET_V6), ipaddr.parseCIDR('127.0.0.0/8'), ipaddr.parseCIDR('::1/128')];

export function isTestAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  return RANGES.some(([range, bits]) => parsed.kind() === range.kind() && parsed.match(range, bits));
}

/** Where a server may listen: a test address or the unspecified address (0.0.0.0, ::). */
export function assertListenAddress(address: string): void {
  if (address === '0.0.0.0' || address === '::') return;
  assertTestAddress(address, 'listen address');
}

/** Throws unless the address is in the test ranges (or loopback). */
export function assertTestAddress(address: string, what = 'destination'): void {
  if (!isTestAddress(address)) {
    throw new InvalidArgumentError(`${what} ${address} is outside the test ranges`, {
      hint: `tests may only use ${TEST_NET_V4} and ${TEST_NET_V6} (the testbed assigns them)`,
    });
  }
}

export function ipFamily(address: string): 4 | 6 {
  if (!ipaddr.isValid(address)) throw new InvalidArgumentError(`"${address}" is not an IP address`);
  return ipaddr.parse(address).kind() === 'ipv4' ? 4 : 6;
}

export interface LinkSubnets {
  v4: { subnet: string; a: string; b: string; prefix: 24 };
  v6: { subnet: string; a: string; b: string; prefix: 64 };
}

/** Number of /24s in 198.18.0.0/15. */
export const V4_SUBNETS = 512;

/**
 * Subnets of one link: the /24 number `v4Index` of 198.18.0.0/15 and the /64
 * 2001:db8:<v6Group>:<linkIndex>::/64; side a gets .1/::1, side b .2/::2.
 */
export function linkSubnets(v4Index: number, v6Group: number, linkIndex: number): LinkSubnets {
  const n = v4Index % V4_SUBNETS;
  const base = `198.${18 + (n >> 8)}.${n & 0xff}`;
  const prefix6 = `2001:db8:${(v6Group & 0xffff).toString(16)}:${(linkIndex & 0xffff).toString(16)}`;
  const v6 = (suffix: string) => (ipaddr.parse(`${prefix6}::${suffix}`) as ipaddr.IPv6).toRFC5952String();
  return {
    v4: { subnet: `${base}.0/24`, a: `${base}.1`, b: `${base}.2`, prefix: 24 },
    v6: { subnet: `${v6('')}/64`, a: v6('1'), b: v6('2'), prefix: 64 },
  };
}
