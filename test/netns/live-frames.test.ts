/**
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: an XDP_TX program run in the kernel
 * really transmits, so frames leave one veth end and reach the peer, where a program counts
 * exactly the generated ones (the stack's own ND/MLD/ARP traffic made a plain counter flaky). This is the traffic generator that the benchmarks build on.
 * The benchmarks' generator (bench_gen.c) with 100,000 flows: the peer keeps a copy of every
 * frame, and each is checked here: its flow (source address and port), its checksums, and for
 * a sample the whole frame against the one built from scratch for its flow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { vethCounters } from '../../src/bench/receiver.js';
import { attachXdp, BpfObject, detachXdp, u32, u64, xdpContext, type XdpTarget } from '../../src/bpf/index.js';
import { buildPacket, checksumsValid, flowFrame, headerBytes, Testbed, TrafficGenerator, type TemplateOptions } from '../../src/net/index.js';
import { flowIndexOf } from '../helpers/flows.js';
import { skip } from '../helpers/netns.js';
import { fixture } from '../helpers/paths.js';

describe('live frames', () => {
  let bed: Testbed;
  const objects: BpfObject[] = [];
  let receiver: XdpTarget | undefined;

  before(async () => {
    bed = await Testbed.pair();
  });
  after(async () => {
    if (receiver) {
      const target = receiver;
      await bed.withNetns('b', () => detachXdp(target));
    }
    objects.forEach((o) => o.close());
    await bed.destroy();
  });

  it('transmits every generated frame to the peer, whose XDP program counts exactly that many of them', async () => {
    const sender = bed.end('a');
    const peer = bed.end('b');
    const counter = BpfObject.open(fixture('kernel', 'count_udp9'));
    const generator = BpfObject.open(fixture('kernel', 'tx'));
    objects.push(counter, generator);
    counter.load();
    generator.load();

    receiver = { ifindex: peer.ifindex, name: peer.ifname };
    const target = receiver;
    await bed.withNetns('b', () => attachXdp(target, counter.program('xdp_count_udp9').fd, { mode: 'native' }));

    // A frame for the peer's MAC but no address of its own: its stack drops it without an
    // ICMP error (whose ARP exchange would add a packet to the count).
    const frame = buildPacket([
      { type: 'eth', src: sender.mac, dst: peer.mac },
      { type: 'ipv4', src: sender.ipv4 ?? '', dst: '198.18.255.254' },
      { type: 'udp', srcPort: 9999, dstPort: 9 },
      { type: 'payload', data: Buffer.alloc(18) },
    ]);
    const frames = 1000;
    const counted = counter.map('udp9_frames').withCodecs(u32, u64);
    const result = await bed.withNetns('a', () =>
      generator.program('xdp_tx').testRun({
        data: frame,
        context: xdpContext(frame.length, { ingressIfindex: sender.ifindex }),
        repeat: frames,
        liveFrames: true,
        batchSize: 64,
      }),
    );
    assert.equal(result.retval, 0, 'live-frames runs report no single verdict');
    assert.equal(result.data.length, 0, 'live frames return no output packet');

    // Exactly `frames`: not fewer (all were sent for real), not more (none duplicated).
    const deadline = Date.now() + 2000;
    let arrived = 0n;
    while (arrived < BigInt(frames) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      arrived = counted.getSummed(0) ?? 0n;
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(counted.getSummed(0), BigInt(frames), 'every generated frame reached the peer, none twice');
  });
});

describe('live frames: the benchmarks\' generator with 100,000 flows', { skip, timeout: 120_000 }, () => {
  const flows = 100_000;
  let bed: Testbed;

  before(async () => {
    bed = await Testbed.pair();
  });
  after(async () => {
    await bed.destroy();
  });

  // The benchmarks' usual traffic and the other family and upper layer (every combination is
  // compared byte for byte without transmitting in bench.test.ts).
  for (const { protocol, family } of [
    { protocol: 'udp', family: 4 },
    { protocol: 'tcp', family: 6 },
  ] as const) {
    it(`${protocol.toUpperCase()}/IPv${family}: every frame that arrives is a later flow's than the one before, checksums valid (every 100th: byte for byte); arrived + refused = sent`, async () => {
      const sender = bed.end('a');
      const peer = bed.end('b');
      // The peer's stack never sees these frames (the capture drops them): sources and destination need no route.
      const options: TemplateOptions = {
        protocol,
        srcMac: sender.mac,
        dstMac: peer.mac,
        ...(family === 4 ? { src: '198.18.0.1', dst: '198.18.255.254' } : { src: '2001:db8::1', dst: '2001:db8::ffff' }),
        dstPort: 9,
        flows,
        frameSize: Math.max(60, headerBytes(protocol, family)),
      };
      const capture = BpfObject.open(fixture('kernel', 'capture'));
      const target: XdpTarget = { ifindex: peer.ifindex, name: peer.ifname };
      let generator: TrafficGenerator | undefined;
      let attached = false;
      try {
        capture.setMaxEntries('frames', flows);
        capture.load();
        await bed.withNetns('b', () => attachXdp(target, capture.program('xdp_capture').fd, { mode: 'native' }));
        attached = true;
        generator = await bed.withNetns('a', () => new TrafficGenerator(options, sender.ifindex));
        const gen = generator;
        const before = await vethCounters(bed.netns('a'), sender.ifname);
        await bed.withNetns('a', () => gen.send({ count: flows }));
        const captured = await settledCount(capture);
        const after = await vethCounters(bed.netns('a'), sender.ifname);
        const transmitted = Number(after.xdpXmit - before.xdpXmit);
        const refused = Number(after.xdpXmitErrors - before.xdpXmitErrors);
        assert.equal(transmitted + refused, flows, `sent = transmitted ${transmitted} + refused ${refused} by a full ring`);
        assert.equal(captured, transmitted, 'every transmitted frame arrived, none twice');

        // Frames arrive in the order sent, one per flow: flow numbers rise (no flow twice; with
        // nothing refused, every flow once).
        let last = -1;
        let checked = 0;
        for (const [key, value] of capture.map('frames').readAll()) {
          const index = key.readUInt32LE(0);
          if (index >= captured) continue;
          const frame = value.subarray(4, 4 + value.readUInt32LE(0));
          const flow = flowIndexOf(options, frame);
          assert.ok(flow !== undefined && flow > last, `frame ${index} (${frame.toString('hex')}): flow ${flow} after flow ${last}`);
          assert.ok(checksumsValid(frame), `frame ${index}: checksums valid`);
          // Building a frame from scratch takes ~0.1 ms: every 100th, the first and the last.
          if (index % 100 === 0 || index === captured - 1) assert.ok(frame.equals(flowFrame(options, flow)), `frame ${index} is flow ${flow}'s frame`);
          last = flow;
          checked++;
        }
        assert.equal(checked, captured, 'every captured frame checked');
        assert.equal(generator.counters().failed, 0n);
      } finally {
        generator?.close();
        if (attached) await bed.withNetns('b', () => detachXdp(target));
        capture.close();
      }
    });
  }
});

/** The capture's frame count once it stopped growing (the peer's NAPI drained its ring). */
async function settledCount(capture: BpfObject): Promise<number> {
  const bss = capture.map(capture.mapNames().find((n) => n.endsWith('.bss')) ?? '.bss');
  const read = (): number => Number((bss.get(Buffer.alloc(4)) ?? Buffer.alloc(8)).readBigUInt64LE(0));
  let count = read();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = read();
    if (again === count && count > 0) break;
    count = again;
  }
  return count;
}
