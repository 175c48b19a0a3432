/**
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: an XDP_TX program run in the kernel
 * really transmits, so frames leave one veth end and reach the peer, where a program counts
 * exactly the generated ones (the stack's own ND/MLD/ARP traffic made a plain counter flaky). This is the traffic generator that the benchmarks build on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { attachXdp, BpfObject, detachXdp, u32, u64, xdpContext, type XdpTarget } from '../../src/bpf/index.js';
import { buildPacket, Testbed } from '../../src/net/index.js';
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
