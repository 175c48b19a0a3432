/**
 * Mitigation in the data plane (BPF_PROG_TEST_RUN): a source that sends more than
 * threshold.pps packets in its one-second window is dropped and blocked for blockFor; other
 * sources are not; the state lives outside the policy generations (an apply keeps a block);
 * expiry and window roll-over are tested by writing the kernel's own state (blocked-until,
 * window start) on its clock (CLOCK_MONOTONIC = bpf_ktime_get_ns = process.hrtime); drops are
 * counted per source and in the mitigated counter.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { activeGeneration, FW_STATE_MAPS, FW_STATS_MAPS, MISC, MISC_SLOTS } from '../../src/firewall/apply.js';
import { compilePolicy, u32 } from '../../src/firewall/compile.js';
import { FirewallTestInstance } from '../../src/firewall/instance.js';
import { fwCounterCodec, fwMitBlockCodec, fwMitRateCodec, fwSrcKeyCodec } from '../../src/firewall/layout.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { MitigationWindows, createReferenceEvaluator } from '../../src/firewall/reference.js';
import { buildPacket } from '../../src/net/packet.js';
import { sumValues } from '../../src/bpf/map.js';
import { heaviestSources, mitigatedSources } from '../../src/firewall/mitigation-state.js';

const udp = (src: string) =>
  Buffer.from(buildPacket([{ type: 'eth' }, src.includes(':') ? { type: 'ipv6', src, dst: '2001:db8::2' } : { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 1000, dstPort: 9 }]));
const policy = (o: Record<string, unknown>) => policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', ...o });
const srcKey = (family: 4 | 6, bytes: number[]) => ({ family, pad: [0, 0, 0], addr: [...bytes, ...Array(16 - bytes.length).fill(0)] });
const A = srcKey(4, [198, 18, 0, 1]);

describe('firewall mitigation (BPF_PROG_TEST_RUN)', () => {
  const fw = FirewallTestInstance.open();
  after(() => fw.close());
  const blocks = () => fw.maps(FW_STATE_MAPS.mitBlock).withCodecs(fwSrcKeyCodec, fwMitBlockCodec);
  const rates = () => fw.maps(FW_STATE_MAPS.mitRate).withCodecs(fwSrcKeyCodec, fwMitRateCodec);
  const mitigated = (p: ReturnType<typeof policy>) => {
    fw.apply(compilePolicy(p));
    return activeGeneration(fw.maps);
  };
  beforeEach(() => {
    fw.maps(FW_STATE_MAPS.mitBlock).clear();
    fw.maps(FW_STATE_MAPS.mitRate).clear();
  });

  it('passes threshold.pps packets of a source, drops the next and blocks it; other sources and families pass', () => {
    const gen = mitigated(policy({ default: 'pass', mitigation: { threshold: { pps: 50 }, blockFor: '1h' } }));
    const kinds = Array.from({ length: 53 }, () => fw.run(udp('198.18.0.1')).kind);
    assert.deepEqual(kinds.slice(0, 50), Array(50).fill('default'));
    assert.deepEqual(kinds.slice(50), ['mitigated', 'mitigated', 'mitigated']);
    assert.equal(fw.run(udp('198.18.0.2')).verdict, 'pass');
    for (let i = 0; i < 50; i++) assert.equal(fw.run(udp('2001:db8::1')).verdict, 'pass');
    assert.equal(fw.run(udp('2001:db8::1')).kind, 'mitigated');
    const b = blocks().get(A);
    assert.ok(b, 'the source is in fw_mit_block');
    assert.equal(b.dropped, 3n);
    const left = b.until_ns - process.hrtime.bigint();
    assert.ok(left > 3590n * 10n ** 9n && left <= 3600n * 10n ** 9n, `blocked for about an hour (${left} ns left)`);
    const misc = sumValues(fw.maps(FW_STATS_MAPS.misc).getPerCpu(u32(gen * MISC_SLOTS + MISC.mitigated))!.map((v) => fwCounterCodec.decode(v, 0)));
    assert.deepEqual(misc, { packets: 4n, bytes: BigInt(3 * udp('198.18.0.1').length + udp('2001:db8::1').length) });
  });

  it('fw top\'s readers: sources by packets in their window, and the blocked ones with time left and drops', () => {
    mitigated(policy({ default: 'pass', mitigation: { threshold: { pps: 50 }, blockFor: '1h' } }));
    for (let i = 0; i < 10; i++) fw.run(udp('198.18.0.1'));
    for (let i = 0; i < 53; i++) fw.run(udp('2001:db8::7'));
    fw.run(udp('198.18.0.9'));
    assert.deepEqual(heaviestSources(fw.maps, 2), [{ source: '2001:db8::7', pps: 53 }, { source: '198.18.0.1', pps: 10 }]);
    const held = mitigatedSources(fw.maps);
    assert.deepEqual(held.map((h) => [h.source, h.dropped]), [['2001:db8::7', 3]]);
    assert.ok(held[0]!.expiresIn > 3590 && held[0]!.expiresIn <= 3600, `${held[0]!.expiresIn} s left`);
    // A source idle for two seconds is no longer among the heaviest.
    const key = srcKey(4, [198, 18, 0, 1]);
    rates().set(key, { ...rates().get(key)!, window_ns: process.hrtime.bigint() - 2_000_000_000n });
    assert.deepEqual(heaviestSources(fw.maps, 5).map((s) => s.source), ['2001:db8::7', '198.18.0.9']);
  });

  it('the kernel agrees with the reference model on a burst (same thresholds, same order as blocklists and rules)', () => {
    const p = policy({
      default: 'drop',
      blocklists: [{ name: 'bad', entries: ['198.19.0.0/16'] }],
      rules: [{ name: 'ok', action: 'pass', proto: 'udp' }],
      mitigation: { threshold: { pps: 7 }, blockFor: '1h' },
    });
    mitigated(p);
    const ref = createReferenceEvaluator(p);
    const model = new MitigationWindows();
    const sources = ['198.18.0.1', '198.19.0.1', '198.18.0.3', '2001:db8::7'];
    for (let i = 0; i < 60; i++) {
      const f = udp(sources[i % sources.length]!);
      assert.equal(fw.run(f).kind, ref.evaluate(f, { mitigate: model.mitigate }).kind, `packet ${i}`);
    }
  });

  it('a block ends at blocked-until; a new window starts one second after the last began', () => {
    mitigated(policy({ default: 'pass', mitigation: { threshold: { pps: 5 }, blockFor: '1h' } }));
    for (let i = 0; i < 6; i++) fw.run(udp('198.18.0.1'));
    assert.equal(fw.run(udp('198.18.0.1')).kind, 'mitigated');
    // The block ended a moment ago, and the window began 1.5 s ago: the source is clean.
    const now = process.hrtime.bigint();
    blocks().set(A, { until_ns: now - 1n, dropped: 2n });
    rates().set(A, { window_ns: now - 1_500_000_000n, packets: 6n, prev_packets: 0n });
    assert.equal(fw.run(udp('198.18.0.1')).kind, 'default');
    assert.equal(blocks().get(A), undefined, 'the expired block is removed');
    const r = rates().get(A)!;
    assert.deepEqual([r.packets, r.prev_packets], [1n, 6n]);
    // Still sending too fast: blocked again after the threshold.
    for (let i = 0; i < 4; i++) assert.equal(fw.run(udp('198.18.0.1')).kind, 'default');
    assert.equal(fw.run(udp('198.18.0.1')).kind, 'mitigated');
  });

  it('a block outlives a policy apply; a policy without mitigation ignores it', () => {
    mitigated(policy({ default: 'pass', mitigation: { threshold: { pps: 2 }, blockFor: '1h' } }));
    for (let i = 0; i < 3; i++) fw.run(udp('198.18.0.1'));
    mitigated(policy({ default: 'pass', rules: [{ action: 'pass', proto: 'tcp' }], mitigation: { threshold: { pps: 1000 }, blockFor: '1h' } }));
    assert.equal(fw.run(udp('198.18.0.1')).kind, 'mitigated');
    mitigated(policy({ default: 'pass' }));
    assert.equal(fw.run(udp('198.18.0.1')).kind, 'default');
    assert.ok(blocks().get(A), 'the block stays in the map for a later policy with mitigation');
  });
});
