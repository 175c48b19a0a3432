import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, encodeGeneration, FW_MAPS, MAX_BITMAP_CHUNKS, MAX_BLOCKLISTS, MAX_RULES, PolicyTooLargeError, RULES_PER_CHUNK } from '../../src/firewall/compile.js';
import { FirewallMapState, type ImageDecision } from '../../src/firewall/interpret.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { Random, randomFrame, randomPolicy } from '../../src/firewall/random.js';
import { createReferenceEvaluator, packetFacts, type Decision } from '../../src/firewall/reference.js';
import type { FirewallPolicy } from '../../src/firewall/schema.js';
import { buildPacket } from '../../src/net/packet.js';
import { benchPolicy } from '../../src/bench/scenarios-firewall.js';
import { ruleSource, sparseClassFrames, sparseClassPolicy } from '../helpers/firewall-policies.js';

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
    assert.throws(() => compilePolicy(p), (e: PolicyTooLargeError) => /16385 rules; the firewall holds at most 16384/.test(e.message) && /merge rules/.test(e.hint!));
  });

  it('refuses more blocklists than are counted, saying how to merge them', () => {
    const lists = Array.from({ length: MAX_BLOCKLISTS + 1 }, (_, i) => ({ name: `l${i}`, entries: [`198.18.${i >> 8}.${i & 255}`] }));
    assert.throws(() => compilePolicy(policy([], { blocklists: lists })), (e: PolicyTooLargeError) => /257 blocklists; the firewall counts at most 256/.test(e.message) && /merge blocklists/.test(e.hint!));
  });

  it('stores each class from its lowest to its highest non-zero chunk: 10,000 rules with sources and ports of their own fit', () => {
    // The benchmark's 10,000-rule policy: every rule its own source and port, the last rule
    // neither (so every source's class holds its rule and the last one).
    const link = { v4: '198.18.7', v6: '2001:db8:ff00:3' };
    const c = compilePolicy(benchPolicy({ protocol: 'udp', family: 4 }, 9, link, { rules: 10000, ending: 'match', blocklist: false }));
    assert.equal(c.chunks, 20);
    assert.ok(c.classes.length > 20000, `${c.classes.length} classes`);
    // Every class stored in full would be over 400,000 chunks, beyond MAX_BITMAP_CHUNKS.
    assert.ok(c.classes.length * c.chunks > MAX_BITMAP_CHUNKS);
    assert.ok(c.storedChunks < MAX_BITMAP_CHUNKS / 2, `${c.storedChunks} chunks stored`);
    // Classes lie back to back; chunk c of a class is at first + c, for c from its lowest to its highest non-zero chunk.
    const bitmap = new Map(encodeGeneration(c, 1)[FW_MAPS.bitmap]!.map((e) => [e.key.readUInt32LE(0), e.value]));
    assert.equal(bitmap.size, c.storedChunks);
    const chunkBytes = RULES_PER_CHUNK / 8;
    let next = 0;
    c.summaries.forEach((summary, id) => {
      if (summary === 0) return;
      const lo = Math.log2(summary & -summary);
      const hi = Math.floor(Math.log2(summary));
      assert.equal((c.firsts[id]! + lo) >>> 0, next, `class ${id} starts after the chunks of the class before`);
      const bits = Buffer.from(c.classes[id]!.buffer);
      for (let k = lo; k <= hi; k++) assert.deepEqual(bitmap.get(MAX_BITMAP_CHUNKS + next + k - lo), bits.subarray(k * chunkBytes, (k + 1) * chunkBytes));
      next += hi - lo + 1;
    });
    assert.equal(next, c.storedChunks);
  });

  it('finds the deciding rule when classes store chunks of wildcard rules far below (10,000 rules)', () => {
    const p = sparseClassPolicy(10000);
    const ref = createReferenceEvaluator(p);
    const s = new FirewallMapState();
    s.apply(compilePolicy(p));
    const kinds = new Map<string, number>();
    for (const frame of sparseClassFrames(10000, 2000)) {
      const want = same(ref.evaluate(frame));
      kinds.set(want.kind, (kinds.get(want.kind) ?? 0) + 1);
      assert.deepEqual(norm(s.evaluate(frame)), want, `frame ${frame.toString('hex')}`);
    }
    assert.ok((kinds.get('rule') ?? 0) > 1000 && (kinds.get('default') ?? 0) > 100, JSON.stringify(Object.fromEntries(kinds)));
    // A source of chunk 15 (rule 7,681): its class holds the wildcard rules of chunks 0–4 too
    // (stored: chunks 0–15, of which 5–14 are zero).
    assert.equal(Math.floor(7681 / RULES_PER_CHUNK), 15);
    assert.deepEqual(s.evaluate(buildPacket([{ type: 'eth' }, { type: 'ipv4', src: ruleSource(7681), dst: '198.18.0.2' }, { type: 'udp', srcPort: 9, dstPort: 17681 }])), {
      verdict: 'pass',
      kind: 'rule',
      rule: 7681,
    });
  });

  it('refuses a policy whose rule bitmaps do not fit, naming the limit and the fix', () => {
    // 16,384 rules: the even ones each with a source of their own, the odd ones with a port of
    // their own and no source. Every source's class then allows rules in all 32 chunks (the
    // odd ones), and so does every port's: 16,386 classes × 32 chunks.
    const rules = Array.from({ length: MAX_RULES }, (_, i) => (i % 2 ? { action: 'drop', proto: 'udp', dstPorts: [i] } : { action: 'pass', src: [ruleSource(i >> 1)] }));
    assert.throws(
      () => compilePolicy(policy(rules)),
      (e: PolicyTooLargeError) =>
        e instanceof PolicyTooLargeError &&
        /rule-bitmap chunks .* the firewall holds at most 262,144 per policy/.test(e.message) &&
        /fewer distinct prefixes and port ranges/.test(e.hint!),
    );
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
