/**
 * Where the benchmark's flows come from. The generator gives flow i the first source address
 * + i / 256 (src/net/traffic-generator.ts). Up to 256 flows that is the sender's own address.
 * With more, counting up from the sender's address would reach the receiver's (flows 256–511)
 * and further hosts of the sender's subnet, which the kernel's paths drop as martians, so then
 * every flow comes from a block that holds none of the testbed's subnets, and the receiver gets
 * a route to it via the sender (so that rp_filter, whatever the host set, passes them as it
 * passes the sender's own address, and ICMP errors go where they go for a single flow).
 */
import ipaddr from 'ipaddr.js';

/** Flows per source address (the generator's source ports). */
const FLOWS_PER_ADDRESS = 256;

export interface FlowSources {
  /** Flow 0's source address. */
  first: string;
  /** The block every flow's source is in (CIDR), when that is not the sender's own address. */
  block?: string;
}

/**
 * The sources of `flows` flows sent from `sender` through a testbed whose links have
 * `subnets` (CIDRs, either family): the sender's own address for up to 256 flows; beyond, the
 * first host of the first /20 of 198.18.0.0/15 (4,096 × 256 flows) or the first /64 of the
 * sender's /48 (IPv6) that overlaps none of them.
 */
export function flowSources(sender: string, flows: number, subnets: readonly string[]): FlowSources {
  if (flows <= FLOWS_PER_ADDRESS) return { first: sender };
  const address = ipaddr.parse(sender);
  const used = subnets.map((s) => ipaddr.parseCIDR(s)).filter(([network]) => network.kind() === address.kind());
  const candidates = address.kind() === 'ipv4' ? v4Blocks() : v6Blocks(address as ipaddr.IPv6);
  for (const block of candidates) {
    if (used.some((subnet) => overlap(block, subnet))) continue;
    const first = block[0].toByteArray();
    first[first.length - 1] = 1;
    return { first: ipaddr.fromByteArray(first).toString(), block: `${block[0].toString()}/${block[1]}` };
  }
  // Two links use at most two of the 32 /20s or 65,536 /64s: only a testbed of every /20 gets here.
  throw new Error(`no /20 of 198.18.0.0/15 (or /64 of ${sender}'s /48) is free of the testbed's subnets ${subnets.join(', ')}`);
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The 32 /20s of 198.18.0.0/15, lowest first. */
function* v4Blocks(): Generator<Cidr> {
  for (let k = 0; k < 32; k++) yield [ipaddr.IPv4.parse(`198.${18 + (k >> 4)}.${(k & 15) << 4}.0`), 20];
}

/** The /64s of the sender's /48, lowest first. */
function* v6Blocks(sender: ipaddr.IPv6): Generator<Cidr> {
  const parts = sender.parts.slice(0, 3);
  for (let k = 0; k < 0x10000; k++) yield [new ipaddr.IPv6([...parts, k, 0, 0, 0, 0]), 64];
}

/** Two networks of one family overlap when one holds the other's first address. */
function overlap(a: Cidr, b: Cidr): boolean {
  return a[0].match(b[0] as never, b[1]) || b[0].match(a[0] as never, a[1]);
}
