/**
 * The benchmark's machinery, not its speed: the generator writes the whole template into every
 * frame, the templates carry valid checksums, and in a short real run every frame is accounted
 * for (sent = transmitted + refused at the sender; received at the receiver = what its program
 * dropped + passed). No assertion on a rate or a cost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator, udpTemplates } from '../../src/bench/generator.js';
import { runBench } from '../../src/bench/run.js';
import { checksumsValid, findLayer, parsePacket } from '../../src/net/index.js';

const templateOptions = {
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  srcIpv4: '198.18.0.1',
  dstIpv4: '198.18.0.2',
  dstPort: 9,
};

describe('bench', () => {
  it('builds one template per flow, source address and port varied, valid checksums, exact size', () => {
    const templates = udpTemplates({ ...templateOptions, flows: 300, frameSize: 128 });
    assert.equal(templates.length, 300);
    const seen = new Set<string>();
    for (const t of templates) {
      assert.equal(t.length, 128);
      assert.ok(checksumsValid(t), 'IPv4 header checksum valid (the stack drops others before netfilter)');
      const packet = parsePacket(t);
      const ip = findLayer(packet, 'ipv4');
      const udp = findLayer(packet, 'udp');
      assert.ok(ip && udp);
      seen.add(`${ip.src}:${udp.srcPort}`);
    }
    assert.equal(seen.size, 300, 'every flow differs');
  });

  it('writes the whole template into every frame, whatever the recycled page held', () => {
    const templates = udpTemplates({ ...templateOptions, flows: 3, frameSize: 60 });
    const generator = new Generator(templates, 1);
    try {
      for (let i = 0; i < 6; i++) {
        const stale = Buffer.alloc(60, 0xee);
        assert.deepEqual(generator.rewrite(stale), templates[i % 3], `frame ${i} is flow ${i % 3}'s template`);
      }
      assert.deepEqual(generator.counters(), { generated: 6n, failed: 0n });
    } finally {
      generator.close();
    }
  });

  it('accounts for every frame in a short run (no speed asserted)', { timeout: 30_000 }, async () => {
    const packets = 200_000;
    const report = await runBench({ rounds: 1, packets, scenarios: ['drop_udp', 'pass', 'iptables'], programRepeat: 1000 });
    assert.deepEqual(report.summaries.map((s) => s.scenario).sort(), ['drop_udp', 'iptables', 'pass', 'touch']);
    for (const m of report.measurements) {
      assert.equal(m.sent, packets, `${m.scenario}: the generator ran every frame`);
      assert.equal(m.transmitted + m.refused, m.sent, `${m.scenario}: sent = transmitted + refused by the full ring`);
      assert.ok(m.received > 0, `${m.scenario}: frames arrived`);
      // The sender's own stack may add a frame or two (ARP) on top of the generated ones.
      assert.ok(m.received >= m.transmitted && m.received - m.transmitted <= 10, `${m.scenario}: received ${m.received} vs transmitted ${m.transmitted}`);
      assert.ok(Number.isFinite(m.nsPerPacket) && m.nsPerPacket > 0, `${m.scenario}: receiver cost measured`);
    }
    const dropUdp = report.measurements.find((m) => m.scenario === 'drop_udp');
    assert.equal((dropUdp?.dropped ?? 0) + (dropUdp?.passed ?? 0), dropUdp?.received, 'drop_udp: received = dropped + passed');
    assert.ok((dropUdp?.dropped ?? 0) >= (dropUdp?.transmitted ?? 1), 'drop_udp dropped every generated frame');
    const pass = report.measurements.find((m) => m.scenario === 'pass');
    assert.equal((pass?.dropped ?? 0) + (pass?.passed ?? 0), pass?.received, 'pass: received = dropped + passed');
    assert.ok(report.summaries.find((s) => s.scenario === 'drop_udp')?.programNs !== undefined, 'program cost measured');
  });
});
