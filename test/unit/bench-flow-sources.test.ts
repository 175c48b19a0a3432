/**
 * The benchmark's flow sources (src/bench/flow-sources.ts) laid over the testbed's addresses, as
 * Testbed assigns them (linkSubnets): up to 256 flows come from the sender's own address, and
 * with more no flow's source is in any of the testbed's subnets (the receiver's address, the
 * sink's, the VIP and the backends among them), for both families, several flow counts and
 * testbeds whose subnets sit at either end of 198.18.0.0/15 and across a /20's edge.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ipaddr from 'ipaddr.js';
import { flowSources } from '../../src/bench/flow-sources.js';
import { isTestAddress, linkSubnets } from '../../src/net/test-addresses.js';

const FLOW_COUNTS = [1, 3, 256, 257, 511, 512, 600, 65_024, 65_025, 100_000, 1_000_000];

/** A two-link testbed (sender – receiver – sink) as Testbed.create lays it out from its random bases. */
function testbed(v4Base: number, v6Group: number) {
  const links = [0, 1].map((index) => linkSubnets(v4Base + index, v6Group, index));
  return {
    sender: { 4: links[0]!.v4.a, 6: links[0]!.v6.a },
    subnets: links.flatMap((l) => [l.v4.subnet, l.v6.subnet]),
  };
}

/** Source address of every flow's address step (flow i: first + i / 256). */
function sourcesOf(first: string, flows: number): string[] {
  const start = ipaddr.parse(first).toByteArray().reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
  const width = ipaddr.parse(first).kind() === 'ipv4' ? 4 : 16;
  return Array.from({ length: Math.floor((flows - 1) / 256) + 1 }, (_, k) => {
    let n = start + BigInt(k);
    const bytes = Array.from({ length: width }, () => 0);
    for (let i = width - 1; i >= 0; i--, n >>= 8n) bytes[i] = Number(n & 0xffn);
    return ipaddr.fromByteArray(bytes).toString();
  });
}

const inCidr = (address: string, cidr: string): boolean => {
  const parsed = ipaddr.parse(address);
  const [network, bits] = ipaddr.parseCIDR(cidr);
  return parsed.kind() === network.kind() && parsed.match(network, bits);
};

describe('bench flow sources', () => {
  for (const [v4Base, v6Group] of [[0, 0], [15, 0x1234], [255, 0xffff], [511, 7]] as const) {
    for (const family of [4, 6] as const) {
      it(`IPv${family}, testbed at /24 number ${v4Base}: the sender's address up to 256 flows, beyond no flow from any testbed subnet`, () => {
        const bed = testbed(v4Base, v6Group);
        for (const flows of FLOW_COUNTS) {
          const { first, block } = flowSources(bed.sender[family], flows, bed.subnets);
          if (flows <= 256) {
            assert.deepEqual({ first, block }, { first: bed.sender[family], block: undefined }, `${flows} flows: as before, the sender's own address`);
            continue;
          }
          for (const source of sourcesOf(first, flows)) {
            const hit = bed.subnets.find((subnet) => inCidr(source, subnet));
            assert.equal(hit, undefined, `${flows} flows: source ${source} is in the testbed's subnet ${hit}`);
            assert.ok(isTestAddress(source), `${flows} flows: ${source} is a test address`);
            assert.ok(block && inCidr(source, block), `${flows} flows: ${source} is in the block the receiver routes back (${block})`);
          }
        }
      });
    }
  }
});
