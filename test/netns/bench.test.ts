/**
 * The benchmark's machinery, not its speed: the generator writes the whole template into every
 * frame, the templates carry valid checksums, and in a short real run every frame is accounted
 * for (sent = transmitted + refused at the sender; received at the receiver = what its program
 * dropped + passed). No assertion on a rate or a cost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator, udpTemplates } from '../../src/bench/generator.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { svgChart, writeResults } from '../../src/bench/report.js';
import { runBench, type BenchReport } from '../../src/bench/run.js';
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

  it('writes JSON, Markdown and an SVG bar chart of the ratios, filters and forwarders apart', () => {
    const row = (scenario: string, group: 'filter' | 'forward', baseline: string, ratio: number) => ({
      scenario, group, baseline, description: `${scenario} <&>`, mpps: 1, nsPerPacket: 100 / ratio, ratio, ratioBest: ratio + 0.1, ratioSpread: 0.2,
    });
    const report: BenchReport = {
      date: '2025-01-01T00:00:00.000Z',
      machine: { kernel: '6.18', cpuModel: 'cpu', cores: 2 },
      settings: { rounds: 5, warmupRounds: 1, durationS: 2, flows: 1, forwardFlows: 3, frameSize: 60, batchSize: 64, generatorCpu: 0, receiverCpu: 1 },
      summaries: [row('touch', 'filter', 'touch', 1), row('drop_udp', 'filter', 'touch', 0.97), row('iptables', 'filter', 'touch', 0.3), row('xdp-fwd', 'forward', 'xdp-fwd', 1), row('nft-dnat', 'forward', 'xdp-fwd', 0.12)],
      measurements: [],
    };
    const svg = svgChart(report);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    for (const name of ['touch', 'drop_udp', 'iptables', 'xdp-fwd', 'nft-dnat']) assert.ok(svg.includes(`>${name}</text>`), `${name} labelled`);
    assert.ok(svg.includes('0.97 (103 ns)'), 'median ratio and ns/pkt beside the bar');
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 5, 'background and one bar per scenario');
    assert.ok(svg.includes('forwarders: ratio to the minimal XDP forwarder'));
    const dir = mkdtempSync(join(tmpdir(), 'xdpkit-bench-'));
    try {
      const files = writeResults(report, dir);
      for (const file of [files.json, files.markdown, files.svg]) assert.ok(existsSync(file), file);
      assert.ok(readFileSync(files.markdown, 'utf8').includes('| drop_udp | 1.00 | 103 | 0.97 | 1.07 | 0.20 | touch | - | - |'));
      assert.equal(readFileSync(files.svg, 'utf8'), svg);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accounts for every frame in a short run (no speed asserted)', { timeout: 30_000 }, async () => {
    const packets = 200_000;
    const report = await runBench({ rounds: 1, warmupRounds: 0, packets, scenarios: ['drop_udp', 'pass', 'iptables'], programRepeat: 1000 });
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
    for (const name of ['drop_udp', 'pass', 'touch']) {
      const m = report.measurements.find((x) => x.scenario === name);
      assert.ok((m?.liveRuns ?? 0) > 0 && (m?.liveProgramNs ?? 0) > 0, `${name}: kernel run-time statistics while live`);
    }
    assert.equal(report.measurements.find((x) => x.scenario === 'iptables')?.liveRuns, undefined, 'no XDP program, no run-time statistics');
  });

  it('forwards to the sink in the third namespace: frames arrive with the template\'s headers (no speed asserted)', { timeout: 30_000 }, async () => {
    const packets = 100_000;
    const report = await runBench({ rounds: 1, warmupRounds: 0, packets, scenarios: ['redirect', 'kernel-fwd', 'nft-dnat'], programRepeat: 1000 });
    assert.deepEqual(report.summaries.map((s) => s.scenario).sort(), ['kernel-fwd', 'nft-dnat', 'redirect', 'touch', 'xdp-fwd']);
    assert.ok(report.summaries.filter((s) => s.group === 'forward').every((s) => s.baseline === 'xdp-fwd'), 'forwarders are judged against the minimal XDP forwarder');
    const fwd = report.forwarding;
    assert.ok(fwd, 'forwarding facts reported');
    const templates = fwd.templates.map((hex) => Buffer.from(hex, 'hex'));
    const mac = (text: string): Buffer => Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
    const sampleOf = (name: string): Buffer => {
      const m = report.measurements.find((x) => x.scenario === name);
      assert.ok(m?.sample, `${name}: a forwarded frame was sampled at the sink`);
      return Buffer.from(m.sample, 'hex');
    };
    for (const m of report.measurements.filter((x) => x.scenario !== 'touch')) {
      assert.equal(m.transmitted + m.refused, m.sent, `${m.scenario}: sent = transmitted + refused`);
      assert.ok(m.received >= m.transmitted && m.received - m.transmitted <= 10, `${m.scenario}: received ${m.received} vs transmitted ${m.transmitted}`);
      assert.ok((m.forwarded ?? 0) > 0 && (m.forwarded ?? 0) <= m.received + 10, `${m.scenario}: forwarded ${m.forwarded} of ${m.received}`);
      assert.ok(Number.isFinite(m.nsPerPacket) && m.nsPerPacket > 0, `${m.scenario}: forwarding hop's cost measured`);
    }
    // The minimal forwarder: the template, both MACs rewritten (the generator restored them in every frame).
    const rewritten = templates.map((t) => Buffer.concat([mac(fwd.sinkMac), mac(fwd.srcMac), t.subarray(12)]));
    const viaFwd = sampleOf('xdp-fwd');
    assert.ok(rewritten.some((t) => t.equals(viaFwd)), `xdp-fwd: ${viaFwd.toString('hex')} is a template with rewritten MACs`);
    assert.ok(checksumsValid(viaFwd));
    // redirect leaves the frame alone: exactly a template.
    const viaRedirect = sampleOf('redirect');
    assert.ok(templates.some((t) => t.equals(viaRedirect)), `redirect: ${viaRedirect.toString('hex')} is a template`);
    // The kernel: MACs rewritten, TTL one less, checksum still valid, the rest as sent.
    const viaKernel = sampleOf('kernel-fwd');
    assert.ok(checksumsValid(viaKernel), 'kernel-fwd: valid IPv4 checksum');
    const kernelIp = findLayer(parsePacket(viaKernel), 'ipv4');
    assert.equal(kernelIp?.ttl, 63);
    assert.equal(kernelIp?.dst, fwd.vip);
    assert.deepEqual(viaKernel.subarray(0, 6), mac(fwd.sinkMac));
    // DNAT: sent to the VIP, arrives at one of the backends.
    const viaDnat = findLayer(parsePacket(sampleOf('nft-dnat')), 'ipv4');
    assert.ok(viaDnat && fwd.backends.includes(viaDnat.dst), `nft-dnat: arrived for ${viaDnat?.dst}, a backend`);
  });
});
