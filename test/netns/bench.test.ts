/**
 * The benchmark's machinery, not its speed: the generator writes the whole template into every
 * frame and varies its flow, byte for byte the frame built from scratch (valid checksums) for up
 * to 1,000,000 flows, and in a short real run every frame is accounted for (sent = transmitted + refused at the sender; received at the receiver = what its program
 * dropped + passed). No assertion on a rate or a cost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ipaddr from 'ipaddr.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { svgChart, writeResults } from '../../src/bench/report.js';
import { DEFAULT_LOAD, runBench, type BenchReport } from '../../src/bench/run.js';
import { checksumsValid, findLayer, flowFrame, headerBytes, MAX_FLOWS, parsePacket, TEMPLATE_PROTOCOLS, TrafficGenerator, verifyChecksums, type TemplateOptions } from '../../src/net/index.js';
import { SCENARIOS } from '../../src/bench/scenarios.js';
import { flowIndexOf } from '../helpers/flows.js';
import { summarise } from '../../src/bench/summary.js';
import type { Measurement } from '../../src/bench/window.js';

const templateOptions = {
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  src: '198.18.0.1',
  dst: '198.18.0.2',
  dstPort: 9,
};

/** Source address and port (ICMP: echo identifier) of a frame: what tells flows apart. */
function flowOf(frame: Buffer): string {
  const packet = parsePacket(frame);
  const ip = findLayer(packet, 'ipv4') ?? findLayer(packet, 'ipv6');
  const l4 = findLayer(packet, 'udp') ?? findLayer(packet, 'tcp');
  const icmp = findLayer(packet, 'icmp') ?? findLayer(packet, 'icmpv6');
  return `${ip?.src} ${l4?.srcPort ?? icmp?.id}`;
}

const TRAFFIC = TEMPLATE_PROTOCOLS.flatMap((protocol) => ([4, 6] as const).map((family) => ({ protocol, family })));
const addresses = (family: 4 | 6) => (family === 4 ? { src: '198.18.0.1', dst: '198.18.0.2' } : { src: '2001:db8::1', dst: '2001:db8::2' });

describe('bench', () => {
  for (const { protocol, family } of TRAFFIC) {
    it(`builds ${protocol.toUpperCase()}/IPv${family} flow frames: every checksum valid, exact sizes up to 1514 bytes, every flow different`, () => {
      const smallest = Math.max(60, headerBytes(protocol, family));
      for (const frameSize of [smallest, 128, 1514]) {
        const frames = Array.from({ length: 300 }, (_, i) => flowFrame({ ...templateOptions, ...addresses(family), protocol, flows: 300, frameSize }, i));
        for (const t of frames) {
          assert.equal(t.length, frameSize);
          const packet = parsePacket(t);
          assert.deepEqual(packet.issues, [], 'parses cleanly');
          const names = packet.layers.map((l) => l.type);
          const upper = protocol === 'icmp' ? (family === 4 ? 'icmp' : 'icmpv6') : protocol;
          assert.deepEqual(names.slice(0, 3), ['eth', `ipv${family}`, upper]);
          const checks = verifyChecksums(t);
          assert.equal(checks.length, family === 4 ? 2 : 1, 'the IPv4 header and the upper layer (IPv6 has no header checksum)');
          for (const c of checks) assert.equal(c.status, 'valid', `${c.layer} checksum ${c.status} in a ${frameSize}-byte frame`);
        }
        assert.equal(new Set(frames.map(flowOf)).size, 300, 'every flow differs');
      }
    });
  }

  it('refuses a frame size its headers do not fit in, or over 1514, flows past the limit or the last address, saying what fits', () => {
    assert.throws(() => flowFrame({ ...templateOptions, ...addresses(6), protocol: 'tcp', frameSize: 60 }), /TCP\/IPv6 frame must be 74\.\.1514 bytes, got 60/);
    assert.throws(() => flowFrame({ ...templateOptions, frameSize: 1515 }), /must be 60\.\.1514 bytes/);
    assert.throws(() => flowFrame({ ...templateOptions, dst: '2001:db8::2' }), /different address families/);
    assert.throws(() => flowFrame({ ...templateOptions, flows: MAX_FLOWS + 1 }), /flows must be 1\.\.1,000,000, got 1000001/);
    assert.throws(() => flowFrame({ ...templateOptions, src: '255.255.255.250', flows: 10_000 }), /10000 flows from 255\.255\.255\.250 run past the last IPv4 address/);
    assert.throws(() => flowFrame({ ...templateOptions, flows: 10 }, 10), /flow must be 0\.\.9, got 10/);
    assert.throws(() => new TrafficGenerator({ ...templateOptions, src: '198.19.255.200', flows: 100_000 }, 1), /source address of flow 99999 198\.20\.1\.78 is outside the test ranges/);
  });

  it('writes the whole template into every frame, whatever the recycled page held', () => {
    for (const { protocol, family } of TRAFFIC) {
      const size = 200;
      const options = { ...templateOptions, ...addresses(family), protocol, flows: 3, frameSize: size };
      const generator = new TrafficGenerator(options, 1);
      try {
        for (let i = 0; i < 6; i++) {
          const stale = Buffer.alloc(size, 0xee);
          assert.deepEqual(generator.rewrite(stale), flowFrame(options, i % 3), `${protocol}/IPv${family}: frame ${i} is flow ${i % 3}'s`);
        }
        assert.deepEqual(generator.counters(), { generated: 6n, failed: 0n });
      } finally {
        generator.close();
      }
    }
  });

  it('paces frames when asked: a run takes at least the interval per frame, and stops pacing when told', () => {
    const generator = new TrafficGenerator(templateOptions, 1);
    try {
      const frame = flowFrame(templateOptions);
      // 0.5 Mpps: 2,000 ns between frames. The first frame is due at once, each later one an
      // interval after the one before, so 200 runs take at least 199 intervals.
      generator.pace(0.5);
      const paced = generator.runTime(frame, 200);
      assert.ok(paced >= (2000 * 199) / 200, `paced at 0.5 Mpps, a run took ${paced} ns on average`);
      generator.pace(undefined);
      const unpaced = generator.runTime(frame, 200);
      assert.ok(unpaced < 2000, `unpaced again, a run took ${unpaced} ns on average`);
      assert.deepEqual(generator.counters(), { generated: 400n, failed: 0n });
      for (const bad of [0, -1, Number.NaN, 1001]) assert.throws(() => generator.pace(bad), /the pace must be between 0 and 1000 Mpps/);
    } finally {
      generator.close();
    }
  });

  // Flow i is derived in the kernel from flow 0 (address and port added, checksums updated
  // incrementally): compared with frames built from scratch across address carries (IPv4 over
  // .255, IPv6 over a 32-bit word), at both ends, past the last flow back to the first, and for
  // UDP where the sum comes out zero (sent as all ones).
  for (const { protocol, family } of TRAFFIC) {
    it(`derives any of 1,000,000 ${protocol.toUpperCase()}/IPv${family} flows from one template: ~215 frames sampled, byte for byte the frame built from scratch`, () => {
      const src = family === 4 ? '198.18.0.200' : '2001:db8::1:ffff:ff00';
      const options: TemplateOptions = { ...templateOptions, ...addresses(family), src, protocol, flows: MAX_FLOWS, frameSize: Math.max(60, headerBytes(protocol, family)) };
      const random = Array.from({ length: 200 }, () => Math.floor(Math.random() * MAX_FLOWS));
      assertDerived(options, [0, 1, 255, 256, 257, 4095, 4096, 65_535, 99_999, ...random, MAX_FLOWS - 1, MAX_FLOWS, MAX_FLOWS + 1]);
      if (protocol === 'udp') {
        const edge = udpZeroSumFlow(options);
        const frame = flowFrame(edge.options, edge.flow);
        assert.equal(findLayer(parsePacket(frame), 'udp')?.checksum, 0xffff, 'the case is hit: a zero sum, sent as all ones');
        assertDerived(edge.options, [edge.flow]);
      }
    });
  }

  it('compares a slot\'s scenario windows with the baseline windows around them, so a linear drift cancels', () => {
    // Slot of drop_udp: B S B S B with a baseline that drifts 100 → 140; the scenario costs 10 % more than the baseline around it.
    const window = (scenario: string, index: number, ns: number, round = 1) =>
      ({ scenario, slot: 'drop_udp', round, window: index, sent: 1, transmitted: 1, refused: 0, received: 1, seconds: 1, mpps: 1, nsPerPacket: ns, busy: 0.1, framesPerRun: 64 }) as Measurement;
    const measurements = [window('touch', 0, 100), window('drop_udp', 1, 110 * 1.1), window('touch', 2, 120), window('drop_udp', 3, 130 * 1.1), window('touch', 4, 140)];
    const scenarios = SCENARIOS.filter((s) => s.name === 'touch' || s.name === 'drop_udp');
    const [touch, dropUdp] = summarise(scenarios, measurements, new Map());
    assert.equal(dropUdp?.pairs, 2);
    assert.ok(Math.abs((dropUdp?.ratio ?? 0) - 1 / 1.1) < 1e-9, `ratio ${dropUdp?.ratio}: the drift cancels`);
    assert.deepEqual([touch?.ratio, touch?.pairs], [1, 0], 'the baseline is 1 by definition');
    assert.equal(touch?.nsPerPacket, 120, 'median of its windows');
  });

  it('writes JSON, Markdown and an SVG bar chart of the ratios, filters and forwarders apart', () => {
    const row = (scenario: string, group: 'filter' | 'forward', baseline: string, ratio: number) => ({
      scenario, group, baseline, description: `${scenario} <&>`, mpps: 1, nsPerPacket: 100 / ratio, busy: 0.5, framesPerRun: 64, ratio, ratioBest: ratio + 0.1, ratioSpread: 0.2, pairs: 15,
    });
    const report: BenchReport = {
      date: '2025-01-01T00:00:00.000Z',
      machine: { kernel: '6.18', cpuModel: 'cpu', cores: 2 },
      settings: { rounds: 5, warmupRounds: 1, pairs: 3, durationS: 0.25, protocol: 'udp', family: 4, flows: 1, forwardFlows: 3, frameSize: 60, batchSize: 64, load: 0.7, generatorCpu: 0, receiverCpu: 1 },
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
      assert.ok(readFileSync(files.markdown, 'utf8').includes('| drop_udp | 1.00 | 103 | 50 % | 0.97 | 1.07 | 0.20 | touch | - | - | - |'));
      assert.equal(readFileSync(files.svg, 'utf8'), svg);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accounts for every frame in a short run (no speed asserted)', { timeout: 60_000 }, async () => {
    const packets = 200_000;
    const report = await runBench({ rounds: 1, warmupRounds: 0, pairs: 1, packets, scenarios: ['drop_udp', 'pass', 'iptables', 'cpumap'], programRepeat: 1000 });
    assert.deepEqual(report.summaries.map((s) => s.scenario).sort(), ['cpumap', 'drop_udp', 'iptables', 'pass', 'touch']);
    assert.equal(report.measurements.length, 4 * 3, 'each slot: baseline, scenario, baseline');
    assertCounts(report.measurements, packets);
    for (const name of ['drop_udp', 'pass']) {
      const m = report.measurements.find((x) => x.scenario === name);
      assert.equal((m?.dropped ?? 0) + (m?.passed ?? 0), m?.received, `${name}: received = dropped + passed`);
    }
    const dropUdp = report.measurements.find((m) => m.scenario === 'drop_udp');
    assert.ok((dropUdp?.dropped ?? 0) >= (dropUdp?.transmitted ?? 1), 'drop_udp dropped every generated frame');
    assert.ok(report.summaries.find((s) => s.scenario === 'drop_udp')?.programNs !== undefined, 'program cost measured');
    for (const name of ['drop_udp', 'pass', 'touch', 'cpumap']) {
      const m = report.measurements.find((x) => x.scenario === name && x.liveRuns !== undefined);
      assert.ok((m?.liveRuns ?? 0) > 0 && (m?.liveProgramNs ?? 0) > 0, `${name}: kernel run-time statistics while live`);
    }
    assert.equal(report.measurements.find((x) => x.scenario === 'iptables')?.liveRuns, undefined, 'no XDP program, no run-time statistics');
    const cpumap = report.measurements.find((x) => x.scenario === 'cpumap');
    assert.ok((cpumap?.otherCpuNsPerPacket ?? 0) > 0, 'cpumap: the thread on the CPU it steers to is counted apart');
    assert.ok((cpumap?.otherCpuFrames ?? 0) > 0 && (cpumap?.otherCpuFrames ?? 0) <= (cpumap?.received ?? 0) + 10, `cpumap: ${cpumap?.otherCpuFrames} of ${cpumap?.received} frames reached the stack on the other CPU`);
    for (const s of report.summaries.filter((x) => x.scenario !== 'touch')) assert.equal(s.pairs, 1, `${s.scenario}: one window between two of touch`);
  });

  it('paces every counted window below its receiver\'s capacity, measured in the warm-up round, and still accounts for every frame (no speed asserted)', { timeout: 60_000 }, async () => {
    const packets = 50_000;
    const report = await runBench({ rounds: 1, warmupRounds: 1, pairs: 1, packets, scenarios: ['drop_udp'], programRepeat: 1000 });
    assert.equal(report.settings.load, DEFAULT_LOAD);
    assert.equal(report.measurements.length, 3, 'warm-up windows are not kept');
    assertCounts(report.measurements, packets);
    for (const m of report.measurements) assert.ok((m.pacedMpps ?? 0) > 0, `${m.scenario}, window ${m.window}: paced at ${m.pacedMpps} Mpps`);
    const unpaced = await runBench({ rounds: 1, warmupRounds: 1, pairs: 1, packets, scenarios: ['drop_udp'], programRepeat: 0, load: 1 });
    assert.ok(unpaced.measurements.every((m) => m.pacedMpps === undefined), 'load 1: never paced');
    await assert.rejects(runBench({ load: 0 }), /the load must be above 0 and at most 1, got 0/);
  });

  it('forwards to the sink in the third namespace and reflects to the sender: frames arrive with the template\'s headers (no speed asserted)', { timeout: 60_000 }, async () => {
    const packets = 100_000;
    const report = await runBench({ rounds: 1, warmupRounds: 0, pairs: 1, packets, scenarios: ['redirect', 'reflect', 'kernel-fwd', 'nft-dnat'], programRepeat: 1000 });
    assert.deepEqual(report.summaries.map((s) => s.scenario).sort(), ['kernel-fwd', 'nft-dnat', 'redirect', 'reflect', 'touch', 'xdp-fwd']);
    assert.ok(report.summaries.filter((s) => s.group === 'forward').every((s) => s.baseline === 'xdp-fwd'), 'forwarders are judged against the minimal XDP forwarder');
    const fwd = report.forwarding;
    assert.ok(fwd, 'forwarding facts reported');
    const templates = flowFrames(fwd.traffic);
    assertCounts(report.measurements, packets);
    assertForwarded(report.measurements);
    // The minimal forwarder: the template, both MACs rewritten (the generator restored them in every frame).
    const rewritten = templates.map((t) => Buffer.concat([mac(fwd.sinkMac), mac(fwd.srcMac), t.subarray(12)]));
    const viaFwd = sampleOf(report, 'xdp-fwd');
    assert.ok(rewritten.some((t) => t.equals(viaFwd)), `xdp-fwd: ${viaFwd.toString('hex')} is a template with rewritten MACs`);
    assert.ok(checksumsValid(viaFwd));
    // redirect leaves the frame alone: exactly a template.
    const viaRedirect = sampleOf(report, 'redirect');
    assert.ok(templates.some((t) => t.equals(viaRedirect)), `redirect: ${viaRedirect.toString('hex')} is a template`);
    // reflect: back at the sender, a template with MACs, addresses and ports swapped.
    assertReflected(sampleOf(report, 'reflect'), templates);
    // The kernel: MACs rewritten, TTL one less, checksum still valid, the rest as sent.
    const viaKernel = sampleOf(report, 'kernel-fwd');
    assert.ok(checksumsValid(viaKernel), 'kernel-fwd: valid IPv4 checksum');
    const kernelIp = findLayer(parsePacket(viaKernel), 'ipv4');
    assert.equal(kernelIp?.ttl, 63);
    assert.equal(kernelIp?.dst, fwd.vip);
    assert.deepEqual(viaKernel.subarray(0, 6), mac(fwd.sinkMac));
    // DNAT: sent to the VIP, arrives at one of the backends.
    const viaDnat = findLayer(parsePacket(sampleOf(report, 'nft-dnat')), 'ipv4');
    assert.ok(viaDnat && fwd.backends.includes(viaDnat.dst), `nft-dnat: arrived for ${viaDnat?.dst}, a backend`);
  });

  it('forwards flows 256 and up through the kernel: with 512 flows none comes from the receiver\'s address, so the sink gets (nearly) every frame (no speed asserted)', { timeout: 60_000 }, async () => {
    // Counting up from the sender's address, flows 256–511 came from the receiver's own: martians, half the frames.
    const packets = 51_200;
    const report = await runBench({ rounds: 1, warmupRounds: 0, pairs: 1, packets, flows: 512, scenarios: ['kernel-fwd'], programRepeat: 1000 });
    assertCounts(report.measurements, packets);
    const fwd = report.forwarding ?? assert.fail('forwarding facts reported');
    assert.equal(fwd.traffic.flows, 512);
    const kernel = report.measurements.filter((m) => m.scenario === 'kernel-fwd');
    assert.ok(kernel.length > 0);
    for (const m of kernel) assert.ok((m.forwarded ?? 0) >= 0.9 * m.received, `kernel-fwd: ${m.forwarded} of ${m.received} frames reached the sink`);
    const flow = flowIndexOf(fwd.traffic, sampleOf(report, 'kernel-fwd'));
    assert.ok(flow !== undefined, 'the sampled frame is one of the flows');
  });

  it('runs TCP over IPv6 through the filters and forwarders that handle it, and says which it skipped (no speed asserted)', { timeout: 60_000 }, async () => {
    const packets = 100_000;
    const report = await runBench({ rounds: 1, warmupRounds: 0, pairs: 1, packets, protocol: 'tcp', family: 6, scenarios: ['drop_udp', 'xdp-filter', 'nftables', 'iptables', 'reflect', 'nft-dnat'], programRepeat: 1000 });
    assert.deepEqual(report.skipped?.map((x) => x.scenario), ['drop_udp']);
    assert.match(report.skipped?.[0]?.reason ?? '', /UDP only.*TCP\/IPv6/);
    assert.deepEqual(report.summaries.map((s) => s.scenario).sort(), ['iptables', 'nft-dnat', 'nftables', 'reflect', 'touch', 'xdp-filter', 'xdp-fwd']);
    assert.equal(report.settings.frameSize, 74, 'the smallest TCP/IPv6 frame');
    assertCounts(report.measurements, packets);
    assertForwarded(report.measurements);
    const templates = flowFrames(report.forwarding?.traffic ?? assert.fail('forwarding facts reported'));
    assertReflected(sampleOf(report, 'reflect'), templates);
    const viaDnat = findLayer(parsePacket(sampleOf(report, 'nft-dnat')), 'ipv6');
    assert.ok(viaDnat && report.forwarding?.backends.includes(viaDnat.dst), `nft-dnat: arrived for ${viaDnat?.dst}, a backend`);
    assert.ok(checksumsValid(sampleOf(report, 'nft-dnat')), 'DNAT kept the TCP checksum valid');
  });
});

const mac = (text: string): Buffer => Buffer.from(text.split(':').map((h) => parseInt(h, 16)));

/** Every flow's frame (a few: the forwarding traffic of these runs has 3 flows). */
const flowFrames = (traffic: TemplateOptions): Buffer[] => Array.from({ length: traffic.flows ?? 1 }, (_, i) => flowFrame(traffic, i));

/** Runs the generator (not live) up to each frame number and compares the frame with flowFrame's for its flow. */
function assertDerived(options: TemplateOptions, frameNumbers: number[]): void {
  const flows = options.flows ?? 1;
  const generator = new TrafficGenerator(options, 1);
  try {
    let next = 0;
    for (const n of [...new Set(frameNumbers)].sort((a, b) => a - b)) {
      const frame = generator.rewrite(Buffer.alloc(options.frameSize ?? 60, 0xee), n - next + 1);
      next = n + 1;
      assert.deepEqual(frame, flowFrame(options, n % flows), `frame ${n} is flow ${n % flows}'s`);
    }
    assert.deepEqual(generator.counters(), { generated: BigInt(next), failed: 0n });
  } finally {
    generator.close();
  }
}

/**
 * The options moved to a first source address whose flow 0 has UDP checksum 300, and the flow
 * whose sum comes out zero: adding k to the source lowers flow 0's checksum by k (modulo
 * 0xffff), and flow i's sums are flow 0's + i / 256 + i % 256, which is 300 for 45 * 256 + 255.
 */
function udpZeroSumFlow(options: TemplateOptions): { options: TemplateOptions; flow: number } {
  const checksum = findLayer(parsePacket(flowFrame(options)), 'udp')?.checksum ?? assert.fail('a UDP frame');
  const k = ((checksum % 0xffff) - 300 + 0xffff) % 0xffff;
  const bytes = ipaddr.parse(options.src).toByteArray();
  let carry = k;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const sum = bytes[i]! + carry;
    bytes[i] = sum & 0xff;
    carry = Math.floor(sum / 256);
  }
  return { options: { ...options, src: ipaddr.fromByteArray(bytes).toString() }, flow: 45 * 256 + 255 };
}

function sampleOf(report: BenchReport, name: string): Buffer {
  const m = report.measurements.find((x) => x.scenario === name && x.sample);
  assert.ok(m?.sample, `${name}: a forwarded frame was sampled where it arrived`);
  return Buffer.from(m.sample, 'hex');
}

/** Every window: sent = transmitted + refused at the sender, and the receiver got what was transmitted. */
function assertCounts(measurements: readonly Measurement[], packets: number): void {
  for (const m of measurements) {
    const what = `${m.scenario} (slot ${m.slot}, window ${m.window})`;
    assert.equal(m.sent, packets, `${what}: the generator ran every frame`);
    assert.equal(m.transmitted + m.refused, m.sent, `${what}: sent = transmitted + refused by the full ring`);
    // The sender's own stack may add a frame or two (ARP, ND) on top of the generated ones.
    assert.ok(m.received >= m.transmitted && m.received - m.transmitted <= 10, `${what}: received ${m.received} vs transmitted ${m.transmitted}`);
    assert.ok(Number.isFinite(m.nsPerPacket) && m.nsPerPacket > 0, `${what}: receiver cost measured`);
  }
}

/** Forwarders send on what they received (a few stack frames aside). */
function assertForwarded(measurements: readonly Measurement[]): void {
  for (const m of measurements.filter((x) => x.scenario !== 'touch' && x.forwarded !== undefined)) {
    assert.ok((m.forwarded ?? 0) > 0 && (m.forwarded ?? 0) <= m.received + 10, `${m.scenario}: forwarded ${m.forwarded} of ${m.received}`);
  }
  for (const name of new Set(measurements.map((m) => m.scenario))) {
    if (['touch', 'xdp-filter', 'nftables', 'iptables'].includes(name)) continue;
    assert.ok(measurements.some((m) => m.scenario === name && (m.forwarded ?? 0) > 0), `${name}: frames arrived where it sends them`);
  }
}

/** A reflected frame: some template with MACs, addresses and ports swapped, checksums valid. */
function assertReflected(frame: Buffer, templates: readonly Buffer[]): void {
  const got = parsePacket(frame);
  const match = templates.some((t) => {
    const sent = parsePacket(t);
    const [ge, se] = [findLayer(got, 'eth'), findLayer(sent, 'eth')];
    const [gi, si] = [findLayer(got, 'ipv4') ?? findLayer(got, 'ipv6'), findLayer(sent, 'ipv4') ?? findLayer(sent, 'ipv6')];
    const [gl, sl] = [findLayer(got, 'udp') ?? findLayer(got, 'tcp'), findLayer(sent, 'udp') ?? findLayer(sent, 'tcp')];
    return ge?.src === se?.dst && ge?.dst === se?.src && gi?.src === si?.dst && gi?.dst === si?.src && gl?.srcPort === sl?.dstPort && gl?.dstPort === sl?.srcPort;
  });
  assert.ok(match, `reflect: ${frame.toString('hex')} is a template with MACs, addresses and ports swapped`);
  assert.ok(checksumsValid(frame), 'reflect: checksums still valid');
}
