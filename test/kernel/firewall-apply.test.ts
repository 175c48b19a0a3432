/**
 * The applier on the real maps: a swap makes the new policy live in one write (the old one
 * judges every packet until then, the new one after), a failed apply leaves the old policy
 * live, the old generation's trie entries are removed, blocklists answer from the exact hashes
 * and the tries as one longest-prefix match, per-rule/blocklist counters count
 * packets and bytes, and a rate-limit rule's bucket passes `burst` packets then drops.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { activeGeneration, applyCompiled, FW_STATS_MAPS, MAX_BLOCKLISTS } from '../../src/firewall/apply.js';
import { compilePolicy, FW_MAPS, MAX_RULES, PolicyTooLargeError, u32 } from '../../src/firewall/compile.js';
import { FirewallTestInstance } from '../../src/firewall/instance.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { Random, randomFrame, randomPolicy } from '../../src/firewall/random.js';
import { createReferenceEvaluator } from '../../src/firewall/reference.js';
import { BpfMap, sumValues } from '../../src/bpf/map.js';
import { bytes } from '../../src/bpf/codecs.js';
import { NotFoundError } from '../../src/bpf/errors.js';
import { buildPacket } from '../../src/net/packet.js';

const udp = (src: string, dport: number) =>
  Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 1000, dstPort: dport }, { type: 'payload', data: new Uint8Array(10) }]));
const policy = (o: Record<string, unknown>) => policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', ...o });

describe('firewall apply (real maps, BPF_PROG_TEST_RUN)', () => {
  const fw = FirewallTestInstance.open();
  after(() => fw.close());

  it('swaps policies with one write: old verdicts until the flip, new ones after, old trie entries gone', () => {
    const r = new Random(7);
    let prev = randomPolicy(r);
    fw.apply(compilePolicy(prev));
    for (let i = 0; i < 25; i++) {
      const next = randomPolicy(r);
      const refPrev = createReferenceEvaluator(prev);
      const refNext = createReferenceEvaluator(next);
      const frames = Array.from({ length: 40 }, () => randomFrame(r)).filter((f) => f.length >= 14);
      const check = (ref: typeof refPrev, when: string) => {
        for (const f of frames) {
          const k = fw.run(f);
          const want = ref.evaluate(f, { rateLimit: () => !k.rateLimited, mitigate: () => k.kind === 'mitigated' });
          assert.equal(k.verdict, want.verdict, `${when} swap ${i}`);
          assert.equal(k.kind, want.kind, `${when} swap ${i}`);
        }
      };
      const genBefore = activeGeneration(fw.maps);
      fw.apply(compilePolicy(next), { beforeFlip: () => check(refPrev, 'before the flip') });
      assert.equal(activeGeneration(fw.maps), 1 - genBefore);
      check(refNext, 'after the flip');
      for (const name of [FW_MAPS.srcV4, FW_MAPS.srcV6, FW_MAPS.dstV4]) {
        for (const k of fw.maps(name).keys()) assert.equal(k[4], 1 - genBefore, `${name} keeps an entry of the old generation`);
      }
      for (const name of [FW_MAPS.blockV4, FW_MAPS.blockV6]) {
        // One blocklist trie per generation: the new one in its slot, the old slot emptied.
        assert.equal(fw.maps(name).get(u32(genBefore)), undefined, `${name} keeps the old generation's trie`);
        assert.ok(fw.maps(name).get(u32(1 - genBefore)), `${name} has no trie for the new generation`);
      }
      prev = next;
    }
  });

  it('a failed apply leaves the old policy live', () => {
    fw.apply(compilePolicy(policy({ default: 'pass', rules: [{ action: 'drop', proto: 'udp', dstPorts: [53] }] })));
    const gen = activeGeneration(fw.maps);
    assert.throws(
      () => fw.apply(compilePolicy(policy({ default: 'drop', rules: [] })), { beforeFlip: () => { throw new Error('injected'); } }),
      /injected/,
    );
    assert.equal(activeGeneration(fw.maps), gen);
    assert.equal(fw.run(udp('198.18.0.1', 53)).verdict, 'drop');
    assert.equal(fw.run(udp('198.18.0.1', 80)).verdict, 'pass');
    // Too many blocklists is refused before any write.
    const lists = Array.from({ length: MAX_BLOCKLISTS + 1 }, (_, i) => ({ name: `l${i}`, entries: [`198.18.${i >> 8}.${i & 255}`] }));
    assert.throws(() => fw.apply(compilePolicy(policy({ blocklists: lists }))), /blocklists/);
    assert.equal(activeGeneration(fw.maps), gen);
    // The next apply after a failure works and cleans the leftovers.
    fw.apply(compilePolicy(policy({ default: 'drop', rules: [] })));
    assert.equal(fw.run(udp('198.18.0.1', 80)).verdict, 'drop');
  });

  it('refuses a policy whose prefixes do not fit beside the live one in a field trie, before any write', () => {
    // fw_src_v4 holds both generations until the flip: 8 entries here, 4 of them the live
    // policy's (3 prefixes and its /0); 5 prefixes more would need 6.
    const small = FirewallTestInstance.open({ maxEntries: { [FW_MAPS.srcV4]: 8 } });
    try {
      const sources = (n: number) => Array.from({ length: n }, (_, i) => `198.19.${i}.0/24`);
      small.apply(compilePolicy(policy({ default: 'pass', rules: [{ action: 'drop', proto: 'udp', src: sources(3) }] })));
      const gen = activeGeneration(small.maps);
      assert.throws(
        () => small.apply(compilePolicy(policy({ default: 'drop', rules: [{ action: 'pass', proto: 'udp', src: sources(5) }] }))),
        (e: PolicyTooLargeError) =>
          /5 distinct IPv4 src prefixes; fw_src_v4 holds 8 entries for the live policy \(4 now\) and the new one \(6 with its \/0\) together/.test(e.message) && /blocklist/.test(e.hint!),
      );
      assert.equal(activeGeneration(small.maps), gen);
      assert.equal(small.run(udp('198.19.2.1', 53)).verdict, 'drop');
      assert.equal(small.run(udp('198.19.4.1', 53)).verdict, 'pass');
      // What fits beside the live policy is applied.
      small.apply(compilePolicy(policy({ default: 'drop', rules: [{ action: 'pass', proto: 'udp', src: sources(2) }] })));
      assert.equal(small.run(udp('198.19.1.1', 53)).verdict, 'pass');
      assert.equal(small.run(udp('198.19.2.1', 53)).verdict, 'drop');
    } finally {
      small.close();
    }
  });

  it('blocklists: single addresses from the exact hashes, prefixes from the tries; the longest prefix wins, the earlier list on a tie', () => {
    const udp6 = (src: string) =>
      Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv6', src, dst: '2001:db8::2' }, { type: 'udp', srcPort: 1000, dstPort: 9 }]));
    fw.apply(compilePolicy(policy({
      default: 'pass',
      blocklists: [
        { name: 'nets', entries: ['198.19.0.0/16', '198.19.1.1', '2001:db8:5::/48'] },
        { name: 'hosts', entries: ['198.19.1.1', '198.19.2.2', '2001:db8:5::9', '2001:db8:6::9/128'] },
      ],
    })));
    const list = (frame: Buffer) => {
      const d = fw.run(frame);
      return d.kind === 'blocklist' ? d.index : d.kind;
    };
    assert.equal(list(udp('198.19.1.1', 9)), 0, 'the same address in both lists: the earlier list');
    assert.equal(list(udp('198.19.2.2', 9)), 1, 'an address inside an earlier list\'s /16: the longer prefix');
    assert.equal(list(udp('198.19.3.3', 9)), 0);
    assert.equal(list(udp('198.18.3.3', 9)), 'default');
    assert.equal(list(udp6('2001:db8:5::9')), 1);
    assert.equal(list(udp6('2001:db8:5::8')), 0);
    assert.equal(list(udp6('2001:db8:6::9')), 1);
    assert.equal(list(udp6('2001:db8:6::8')), 'default');
    // Only single addresses: no trie entries at all, and the same answers.
    fw.apply(compilePolicy(policy({ default: 'pass', blocklists: [{ name: 'hosts', entries: ['198.19.2.2', '2001:db8:6::9'] }] })));
    assert.equal(list(udp('198.19.2.2', 9)), 0);
    assert.equal(list(udp6('2001:db8:6::9')), 0);
    assert.equal(list(udp('198.19.2.3', 9)), 'default');
  });

  it('refuses a firewall of an older build (blocklists not in per-generation slots, or no exact hashes) before any write', () => {
    const gen = activeGeneration(fw.maps);
    const oldStyle = BpfMap.create({ type: 'lpm_trie', name: 'fw_old_block', key: bytes(12), value: bytes(4), maxEntries: 16, flags: 1 });
    try {
      const maps = (name: string) => (name === FW_MAPS.blockV4 ? oldStyle : fw.maps(name));
      assert.throws(() => applyCompiled(maps, compilePolicy(policy({ default: 'drop' }))), /older build/);
      assert.equal(activeGeneration(fw.maps), gen);
      const withoutExact = (name: string) => {
        if (name === FW_MAPS.exactV6) throw new NotFoundError(`the firewall has no map ${name}`);
        return fw.maps(name);
      };
      assert.throws(() => applyCompiled(withoutExact, compilePolicy(policy({ default: 'drop' }))), /fw_exact_v6 is missing, .*older build/);
      assert.equal(activeGeneration(fw.maps), gen);
    } finally {
      oldStyle.close();
    }
  });

  it('counts packets and bytes per rule, per blocklist and per kind (per-CPU, summed)', () => {
    fw.apply(compilePolicy(policy({
      blocklists: [{ name: 'bad', entries: ['198.19.7.7'] }],
      rules: [{ name: 'dns', action: 'drop', proto: 'udp', dstPorts: [53] }, { name: 'web', action: 'pass', proto: 'udp', dstPorts: [80] }],
    })));
    const gen = activeGeneration(fw.maps);
    for (let i = 0; i < 3; i++) fw.run(udp('198.18.0.1', 53));
    for (let i = 0; i < 2; i++) fw.run(udp('198.19.7.7', 80));
    fw.run(udp('198.18.0.1', 80));
    const counter = (map: string, index: number) => {
      const v = fw.maps(map).getPerCpu(u32(index))!.map((b) => ({ packets: b.readBigUInt64LE(0), bytes: b.readBigUInt64LE(8) }));
      return sumValues(v);
    };
    const len = BigInt(udp('198.18.0.1', 53).length);
    assert.deepEqual(counter(FW_STATS_MAPS.rules, gen * MAX_RULES + 0), { packets: 3n, bytes: 3n * len });
    assert.deepEqual(counter(FW_STATS_MAPS.rules, gen * MAX_RULES + 1), { packets: 1n, bytes: len });
    assert.deepEqual(counter(FW_STATS_MAPS.lists, gen * MAX_BLOCKLISTS + 0), { packets: 2n, bytes: 2n * len });
  });

  it('rate-limit: burst packets of one source pass, the next is dropped, another source has its own bucket', () => {
    fw.apply(compilePolicy(policy({ default: 'pass', rules: [{ action: 'rate-limit', proto: 'udp', rate: { pps: 1, burst: 5 } }] })));
    const verdicts = Array.from({ length: 7 }, () => fw.run(udp('198.18.0.1', 9)));
    assert.deepEqual(verdicts.map((v) => v.verdict), ['pass', 'pass', 'pass', 'pass', 'pass', 'drop', 'drop']);
    assert.equal(verdicts[6]!.rateLimited, true);
    assert.equal(fw.run(udp('198.18.0.9', 9)).verdict, 'pass');
  });
});
