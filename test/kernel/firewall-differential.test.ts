/**
 * bpf/firewall.c through BPF_PROG_TEST_RUN against the TypeScript reference evaluator: random
 * policies (src/firewall/random.ts) compiled and written into the real maps by the real
 * applier, random and malformed frames; on every frame the kernel's verdict AND its deciding
 * rule or blocklist (read from fw_decision_map, which the test instance records) equal the
 * reference's. Rate-limit buckets are the kernel's: the reference is told what the bucket said,
 * and a separate test checks the bucket itself.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { compilePolicy } from '../../src/firewall/compile.js';
import { FirewallTestInstance, type KernelDecision } from '../../src/firewall/instance.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { Random, randomFrame, randomPolicy } from '../../src/firewall/random.js';
import { createReferenceEvaluator, packetFacts, type Decision } from '../../src/firewall/reference.js';
import { buildPacket } from '../../src/net/packet.js';
import { sparseClassFrames, sparseClassPolicy } from '../helpers/firewall-policies.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
// Applying a policy costs ~100–200 ms (131,000 port/proto/flag slots per generation), a frame
// ~0.2 ms (making it, running it, the reference): so 100 policies × 1,000 frames, not more
// policies with fewer frames each.
const POLICIES = Number(process.env.FW_DIFF_POLICIES ?? 100);
const PACKETS_PER_POLICY = Number(process.env.FW_DIFF_PACKETS ?? 1000);

const hexify = (_: string, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);

function comparable(d: Decision): Record<string, unknown> {
  const out: Record<string, unknown> = { verdict: d.verdict, kind: d.kind };
  if (d.kind === 'rule') {
    out.index = d.rule;
    out.rateLimited = d.rateLimited ?? false;
  }
  if (d.kind === 'blocklist') out.index = d.blocklist;
  return out;
}

function kernelComparable(k: KernelDecision): Record<string, unknown> {
  const out: Record<string, unknown> = { verdict: k.verdict, kind: k.kind };
  if (k.index !== undefined) out.index = k.index;
  if (k.kind === 'rule') out.rateLimited = k.rateLimited ?? false;
  return out;
}

describe('firewall data plane (BPF_PROG_TEST_RUN) vs the reference evaluator', () => {
  const fw = FirewallTestInstance.open();
  after(() => fw.close());

  it(`agrees on verdict and deciding rule/blocklist: ${POLICIES} random policies × ${PACKETS_PER_POLICY} random/malformed frames`, () => {
    const r = new Random(20240808);
    const kinds = new Map<string, number>();
    let packets = 0;
    let rateLimitedDrops = 0;
    let short = 0;
    const started = performance.now();
    for (let i = 0; i < POLICIES; i++) {
      // Now and then a policy of 2–3 chunks (over 512 rules), for the chunk summaries.
      const policy = randomPolicy(r, i % 25 === 7 ? 1500 : i % 10 === 0 ? 40 : 12);
      const ref = createReferenceEvaluator(policy);
      fw.apply(compilePolicy(policy));
      for (let j = 0; j < PACKETS_PER_POLICY; ) {
        const frame = randomFrame(r);
        if (frame.length < 14) {
          short++; // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header (so does a NIC)
          continue;
        }
        j++;
        const k = fw.run(frame);
        // Buckets and mitigation windows are the kernel's (their own tests check them): the
        // reference is told what they said, and decides everything else itself.
        const want = comparable(ref.evaluate(frame, { rateLimit: () => !(k.kind === 'rule' && k.rateLimited), mitigate: () => k.kind === 'mitigated' }));
        const got = kernelComparable(k);
        packets++;
        kinds.set(k.kind, (kinds.get(k.kind) ?? 0) + 1);
        if (k.rateLimited) rateLimitedDrops++;
        if (JSON.stringify(got) !== JSON.stringify(want) || k.retval !== (k.verdict === 'drop' ? XDP_DROP : XDP_PASS)) {
          assert.fail(
            `policy ${i} packet ${j}: kernel ${JSON.stringify(got)} (retval ${k.retval}) reference ${JSON.stringify(want)}\n` +
              `frame ${frame.toString('hex')}\nfacts ${JSON.stringify(packetFacts(frame), hexify)}\npolicy ${JSON.stringify(policy, hexify)}`,
          );
        }
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`# ${packets} frames, ${POLICIES} policies in ${seconds.toFixed(1)} s (${Math.round(packets / seconds)} frames/s); kinds ${JSON.stringify(Object.fromEntries(kinds))}; rate-limited drops ${rateLimitedDrops}; ${short} frames < 14 bytes not run`);
    assert.equal(packets, POLICIES * PACKETS_PER_POLICY);
    for (const kind of ['non-ip', 'malformed', 'blocklist', 'rule', 'default', 'mitigated']) assert.ok((kinds.get(kind) ?? 0) > 50, `too few ${kind} decisions`);
  });

  it('finds the first matching rule beyond the first 512-rule chunk (1,201 rules)', () => {
    const rules: unknown[] = Array.from({ length: 1200 }, (_, i) => ({ action: 'drop', proto: 'udp', dstPorts: [i + 1] }));
    rules.push({ action: 'pass', proto: 'udp' });
    fw.apply(compilePolicy(policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'drop', rules })));
    const frame = (dport: number) =>
      buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 9, dstPort: dport }]);
    assert.deepEqual(kernelComparable(fw.run(Buffer.from(frame(1100)))), { verdict: 'drop', kind: 'rule', index: 1099, rateLimited: false });
    assert.deepEqual(kernelComparable(fw.run(Buffer.from(frame(5000)))), { verdict: 'pass', kind: 'rule', index: 1200, rateLimited: false });
    assert.deepEqual(kernelComparable(fw.run(Buffer.from(frame(1)))), { verdict: 'drop', kind: 'rule', index: 0, rateLimited: false });
  });

  it('scans past chunks whose summaries overlap but whose rules do not (1,201 interleaved rules)', () => {
    // Even rules: 198.18/16 → port 53; odd rules: 198.19/16 → port 80. A packet from 198.18 to
    // port 80 has both classes in every chunk, yet no rule before 1200 matches it.
    const rules: unknown[] = Array.from({ length: 1200 }, (_, i) => ({ action: 'drop', proto: 'udp', src: [i % 2 ? '198.19.0.0/16' : '198.18.0.0/16'], dstPorts: [i % 2 ? 80 : 53] }));
    rules.push({ action: 'pass', proto: 'udp', src: ['198.18.0.0/16'], dstPorts: [80] });
    fw.apply(compilePolicy(policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'drop', rules })));
    const frame = (src: string, dport: number) =>
      Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 9, dstPort: dport }]));
    assert.deepEqual(kernelComparable(fw.run(frame('198.18.0.1', 80))), { verdict: 'pass', kind: 'rule', index: 1200, rateLimited: false });
    assert.deepEqual(kernelComparable(fw.run(frame('198.19.0.1', 80))), { verdict: 'drop', kind: 'rule', index: 1, rateLimited: false });
    assert.deepEqual(kernelComparable(fw.run(frame('198.19.0.1', 53))), { verdict: 'drop', kind: 'default' });
  });

  it('10,000 rules with sources and ports of their own (classes stored from their lowest to their highest non-zero chunk)', () => {
    // Classes of one chunk, of all chunks, and of wildcard rules in chunks 0–4 or 9–11 plus one
    // rule far above: the program must find each class's chunk where the compiler put it.
    const policy = sparseClassPolicy(10000);
    const ref = createReferenceEvaluator(policy);
    const compiled = compilePolicy(policy);
    fw.apply(compiled);
    const kinds = new Map<string, number>();
    for (const frame of sparseClassFrames(10000, 5000, 2)) {
      const want = comparable(ref.evaluate(frame));
      const got = kernelComparable(fw.run(frame));
      kinds.set(got.kind as string, (kinds.get(got.kind as string) ?? 0) + 1);
      assert.deepEqual(got, want, `frame ${frame.toString('hex')}`);
    }
    assert.ok((kinds.get('rule') ?? 0) > 2500 && (kinds.get('default') ?? 0) > 250, JSON.stringify(Object.fromEntries(kinds)));
  });
});
