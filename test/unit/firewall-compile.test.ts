import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, encodeGeneration, FW_MAPS, MAX_RULES, PolicyTooLargeError } from '../../src/firewall/compile.js';
import { FirewallMapState, type ImageDecision } from '../../src/firewall/interpret.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { Random, randomFrame, randomPolicy } from '../../src/firewall/random.js';
import { createReferenceEvaluator, packetFacts, type Decision } from '../../src/firewall/reference.js';
import type { FirewallPolicy } from '../../src/firewall/schema.js';
import { buildPacket } from '../../src/net/packet.js';

function same(d: Decision): ImageDecision {
  switch (d.kind) {
    case 'rule':
      return { verdict: d.verdict, kind: 'rule', rule: d.rule, rateLimited: d.rateLimited ?? false } as ImageDecision;
    case 'blocklist':
      return { verdict: 'drop', kind: 'blocklist', blocklist: d.blocklist };
    default:
      return d as ImageDecision;
  }
}
function norm(d: ImageDecision): ImageDecision {
  return d.kind === 'rule' ? ({ ...d, rateLimited: d.rateLimited ?? false } as ImageDecision) : d;
}

const policy = (rules: unknown[], extra: Record<string, unknown> = {}): FirewallPolicy =>
  policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', rules, ...extra });

describe('firewall compiler', () => {
  it('an empty policy compiles to one chunk, /0 entries in every trie, and the default verdict', () => {
    const c = compilePolicy(policy([], { default: 'drop' }));
    assert.equal(c.chunks, 1);
    assert.equal(c.srcV4.length, 1);
    assert.equal(c.srcV6[0]!.prefixLen, 0);
    const s = new FirewallMapState();
    s.apply(c);
    const f = buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    assert.deepEqual(s.evaluate(f), { verdict: 'drop', kind: 'default' });
  });

  it('shares equal bitmaps between fields (classes are deduplicated)', () => {
    const c = compilePolicy(policy([{ action: 'drop', proto: 'udp', dstPorts: [53] }]));
    // bitmaps possible with one rule: {} and {r0}
    assert.equal(c.classes.length, 2);
    assert.notEqual(c.dport[53], c.dport[54]);
    assert.equal(c.dport[65536], c.dport[54]);
  });

  it('encodes LPM keys with the generation after the prefix length', () => {
    const c = compilePolicy(policy([{ action: 'drop', src: ['198.18.1.0/24'] }]));
    const w = encodeGeneration(c, 1);
    const key = w[FW_MAPS.srcV4]!.find((e) => e.key.readUInt32LE(0) === 32 + 24)!.key;
    assert.deepEqual([...key], [56, 0, 0, 0, 1, 0, 0, 0, 198, 18, 1, 0]);
  });

  it('refuses more rules than fit, saying how many', () => {
    const many = Array.from({ length: MAX_RULES + 1 }, () => ({ action: 'drop' }));
    const p = policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', rules: [] });
    p.rules = many.map((r, i) => ({ index: i, name: `r${i}`, action: r.action as 'drop' }));
    assert.throws(() => compilePolicy(p), PolicyTooLargeError);
  });

  it('finds the first matching rule beyond the first 512-rule chunk', () => {
    const rules: unknown[] = Array.from({ length: 1200 }, (_, i) => ({ action: 'drop', proto: 'udp', dstPorts: [i + 1] }));
    rules.push({ action: 'pass', proto: 'udp' });
    const p = policy(rules);
    const s = new FirewallMapState();
    s.apply(compilePolicy(p));
    const frame = (dport: number) =>
      buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 9, dstPort: dport }]);
    assert.deepEqual(s.evaluate(frame(1100)), { verdict: 'drop', kind: 'rule', rule: 1099 });
    assert.deepEqual(s.evaluate(frame(5000)), { verdict: 'pass', kind: 'rule', rule: 1200 });
  });

  it('differential: the image interpreter agrees with the reference on random policies and packets', () => {
    const r = new Random(8);
    let packets = 0;
    const kinds = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      const p = randomPolicy(r, i % 10 === 0 ? 40 : 12);
      const ref = createReferenceEvaluator(p);
      const s = new FirewallMapState();
      s.apply(compilePolicy(p));
      for (let j = 0; j < 200; j++) {
        const frame = randomFrame(r);
        const want = same(ref.evaluate(frame));
        const got = norm(s.evaluate(frame));
        kinds.set(want.kind, (kinds.get(want.kind) ?? 0) + 1);
        packets++;
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          assert.fail(
            `policy ${i} packet ${j}: image ${JSON.stringify(got)} reference ${JSON.stringify(want)}\n` +
              `frame ${frame.toString('hex')}\nfacts ${JSON.stringify(packetFacts(frame), (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}\n` +
              `policy ${JSON.stringify(p, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`,
          );
        }
      }
    }
    assert.equal(packets, 30000);
    for (const k of ['non-ip', 'malformed', 'blocklist', 'rule', 'default']) assert.ok((kinds.get(k) ?? 0) > 50, `too few ${k} decisions: ${kinds.get(k)}`);
  });

  it('generations: a new policy is judged after one flip, the old trie entries are removed, and nothing mixes before it', () => {
    const r = new Random(99);
    const s = new FirewallMapState();
    let prev = randomPolicy(r);
    s.apply(compilePolicy(prev));
    for (let i = 0; i < 30; i++) {
      const next = randomPolicy(r);
      const refPrev = createReferenceEvaluator(prev);
      const refNext = createReferenceEvaluator(next);
      const frames = Array.from({ length: 40 }, () => randomFrame(r));
      s.apply(compilePolicy(next), {
        beforeFlip: () => {
          for (const f of frames) assert.deepEqual(norm(s.evaluate(f)), same(refPrev.evaluate(f)));
        },
      });
      for (const f of frames) assert.deepEqual(norm(s.evaluate(f)), same(refNext.evaluate(f)));
      const gen = s.activeGeneration();
      for (const name of [FW_MAPS.srcV4, FW_MAPS.blockV6, FW_MAPS.dstV6]) {
        for (const k of s.map(name).keys()) assert.equal(Buffer.from(k, 'hex')[4], gen, `${name} keeps an old-generation entry`);
      }
      prev = next;
    }
  });
});
