/**
 * The benchmark's firewall policies do what the scenario names say to the generator's frames
 * (checked with the reference evaluator on the generator's own template): -fall falls through
 * every rule to the default drop, -match is decided by the last rule, and the 1M blocklist
 * holds 1,000,000 prefixes, none of them the sender's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchPolicy, type Job } from '../../src/bench/scenarios-firewall.js';
import { createReferenceEvaluator } from '../../src/firewall/reference.js';
import { flowFrame, headerBytes, MIN_FRAME_SIZE } from '../../src/net/index.js';

const link = { v4: '198.19.7', v6: '2001:db8:ff00:3' };

describe('benchmark firewall policies', () => {
  for (const protocol of ['udp', 'tcp'] as const) {
    for (const family of [4, 6] as const) {
      const frame = flowFrame({
        protocol,
        srcMac: '02:00:00:00:00:01',
        dstMac: '02:00:00:00:00:02',
        src: family === 4 ? `${link.v4}.1` : `${link.v6}::1`,
        dst: family === 4 ? `${link.v4}.2` : `${link.v6}::2`,
        dstPort: 9,
        frameSize: Math.max(MIN_FRAME_SIZE, headerBytes(protocol, family)),
      });
      const decide = (job: Job) => createReferenceEvaluator(benchPolicy({ protocol, family }, 9, link, job)).evaluate(frame);
      it(`${protocol.toUpperCase()}/IPv${family}: fall-through and last-rule match`, () => {
        for (const rules of [1, 100, 1000, 10000]) {
          assert.deepEqual(decide({ rules, ending: 'fall', blocklist: false }), { verdict: 'drop', kind: 'default' });
          const match = decide({ rules, ending: 'match', blocklist: false });
          assert.equal(match.kind === 'rule' && match.rule, rules - 1);
          assert.equal(match.verdict, 'drop');
        }
      });
    }
  }

  it('the 1M blocklist: 1,000,000 prefixes, neither the sender\'s IPv4 nor its IPv6 address among them', () => {
    const p = benchPolicy({ protocol: 'udp', family: 4 }, 9, link, { rules: 1000, ending: 'fall', blocklist: true });
    assert.equal(p.blocklists[0]!.entries.length, 1_000_000);
    const ref = createReferenceEvaluator(p);
    for (const family of [4, 6] as const) {
      const [src, dst] = family === 4 ? [`${link.v4}.1`, `${link.v4}.2`] : [`${link.v6}::1`, `${link.v6}::2`];
      const frame = flowFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src, dst, dstPort: 9, frameSize: Math.max(MIN_FRAME_SIZE, headerBytes('udp', family)) });
      assert.deepEqual(ref.evaluate(frame), { verdict: 'drop', kind: 'default' }, `IPv${family}`);
    }
  });
});
