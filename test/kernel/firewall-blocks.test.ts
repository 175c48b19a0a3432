/**
 * Manual blocks on the real maps (BPF_PROG_TEST_RUN): a blocked prefix (v4 and v6) drops its
 * sources before blocklists and rules and counts them; a policy apply keeps the blocks; an
 * expired block stops matching in the data plane and is removed when blocks are listed; delete
 * of a prefix that is not blocked says what is.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { activeGeneration, FW_STATE_MAPS, FW_STATS_MAPS, MISC, MISC_SLOTS } from '../../src/firewall/apply.js';
import { addBlock, deleteBlock, listBlocks } from '../../src/firewall/blocks.js';
import { parseCidr } from '../../src/firewall/cidr.js';
import { compilePolicy, u32 } from '../../src/firewall/compile.js';
import { FirewallTestInstance } from '../../src/firewall/instance.js';
import { fwCounterCodec, fwManBlockCodec, fwManV4Codec, fwManV6Codec } from '../../src/firewall/layout.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { buildPacket } from '../../src/net/packet.js';
import { sumValues } from '../../src/bpf/map.js';

const udp = (src: string) =>
  Buffer.from(buildPacket([{ type: 'eth' }, src.includes(':') ? { type: 'ipv6', src, dst: '2001:db8::2' } : { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 1000, dstPort: 9 }]));
const policy = (o: Record<string, unknown>) => policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', ...o });

describe('firewall manual blocks (BPF_PROG_TEST_RUN)', () => {
  const fw = FirewallTestInstance.open();
  after(() => fw.close());

  it('blocks v4 and v6 prefixes before blocklists and rules, counts the drops, and survives an apply', () => {
    fw.apply(compilePolicy(policy({ default: 'pass', blocklists: [{ name: 'bad', entries: ['198.18.5.0/28'] }], rules: [{ action: 'pass', proto: 'udp' }] })));
    addBlock(fw.maps, parseCidr('198.18.5.0/24'));
    addBlock(fw.maps, parseCidr('2001:db8:5::/48'), 600);
    assert.equal(fw.run(udp('198.18.5.1')).kind, 'blocked');
    assert.equal(fw.run(udp('198.18.5.200')).kind, 'blocked');
    assert.equal(fw.run(udp('2001:db8:5::9')).kind, 'blocked');
    assert.equal(fw.run(udp('198.18.6.1')).kind, 'rule');
    assert.equal(fw.run(udp('2001:db8:6::9')).kind, 'rule');
    fw.apply(compilePolicy(policy({ default: 'drop' })));
    assert.equal(fw.run(udp('198.18.5.7')).kind, 'blocked', 'an apply keeps the blocks');
    const gen = activeGeneration(fw.maps);
    const misc = sumValues(fw.maps(FW_STATS_MAPS.misc).getPerCpu(u32(gen * MISC_SLOTS + MISC.blocked))!.map((v) => fwCounterCodec.decode(v, 0)));
    assert.equal(misc.packets, 1n, 'counted in the live generation since the apply');
    const list = listBlocks(fw.maps);
    assert.deepEqual(list.map((b) => [b.cidr, b.dropped]), [['198.18.5.0/24', 3], ['2001:db8:5::/48', 1]]);
    assert.equal(list[0]!.expiresIn, null);
    assert.ok(list[1]!.expiresIn! > 590 && list[1]!.expiresIn! <= 600);
  });

  it('an expired block stops matching at once and is removed when listing; delete says what is blocked', () => {
    const trie = fw.maps(FW_STATE_MAPS.manV4).withCodecs(fwManV4Codec, fwManBlockCodec);
    const key = { prefixlen: 24, addr: [198, 18, 5, 0] };
    trie.set(key, { until_ns: process.hrtime.bigint() - 1n, dropped: 0n });
    assert.notEqual(fw.run(udp('198.18.5.1')).kind, 'blocked');
    assert.deepEqual(listBlocks(fw.maps).map((b) => b.cidr), ['2001:db8:5::/48']);
    assert.equal(trie.get(key), undefined, 'the expired entry is gone from the trie');
    deleteBlock(fw.maps, parseCidr('2001:db8:5::/48'));
    assert.notEqual(fw.run(udp('2001:db8:5::9')).kind, 'blocked');
    addBlock(fw.maps, parseCidr('198.18.9.9'));
    assert.throws(() => deleteBlock(fw.maps, parseCidr('198.18.9.0/24')), (e: Error & { details?: string }) => /198\.18\.9\.0\/24 is not blocked/.test(e.message) && /198\.18\.9\.9\/32/.test(e.details ?? ''));
    assert.throws(() => addBlock(fw.maps, parseCidr('198.18.9.9'), 0), /longer than zero/);
  });

  it('fw_man_active says whether any block exists (the data plane skips the tries without one)', () => {
    const active = () => fw.maps(FW_STATE_MAPS.manActive).get(u32(0))!.readUInt32LE(0);
    assert.equal(active(), 1);
    assert.equal(fw.run(udp('198.18.9.9')).kind, 'blocked');
    deleteBlock(fw.maps, parseCidr('198.18.9.9'));
    assert.equal(active(), 0, 'cleared with the last block');
    addBlock(fw.maps, parseCidr('2001:db8:9::/48'), 60);
    assert.equal(active(), 1);
    assert.equal(fw.run(udp('2001:db8:9::1')).kind, 'blocked');
    // Expired and pruned by a listing: cleared again.
    fw.maps(FW_STATE_MAPS.manV6).withCodecs(fwManV6Codec, fwManBlockCodec).set({ prefixlen: 48, addr: [0x20, 0x01, 0x0d, 0xb8, 0, 9, ...Array(10).fill(0)] }, { until_ns: 1n, dropped: 0n });
    assert.deepEqual(listBlocks(fw.maps), []);
    assert.equal(active(), 0);
  });
});
