/**
 * lb ipip and the egress MTU, through BPF_PROG_TEST_RUN with the frame "received" on a veth
 * whose MTU is 1400 (so bpf_check_mtu sees that device): a packet whose encapsulated form fits
 * is encapsulated; one that would exceed it is answered with the exact ICMP "fragmentation
 * needed" / ICMPv6 "packet too big" frame (built independently with src/net's builder), or
 * dropped when it is IPv4 without DF; lb_too_big counts both, and the backends' counters see
 * only what was sent to them. Needs root (a network namespace for the device).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '../../src/bpf/object.js';
import { xdpContext } from '../../src/bpf/test-run.js';
import { Testbed } from '../../src/net/index.js';
import { buildPacket } from '../../src/net/packet.js';
import { checksumsValid } from '../../src/net/packet-verify.js';
import { applyImage } from '../../src/lb/apply.js';
import { compileLoadBalancer } from '../../src/lb/compile.js';
import { parseAddress, parseLoadBalancerText } from '../../src/lb/schema.js';
import { readLbStats } from '../../src/lb/stats.js';
import { eth, frame, ip4, ip6, IP4, IP6, MAC, payload, tcp, udp, vlan } from '../helpers/frames.js';
import { inNs, skip } from '../helpers/netns.js';
import { builtinObject } from '../helpers/paths.js';

const MTU = 1400;
const QUOTE = 64;
const XDP_DROP = 1;
const XDP_TX = 3;
const NEXT_HOP = '02:00:00:00:0a:01';
const VIP4 = '198.18.0.10';
const VIP4_VIA6 = '198.18.0.11';
const VIP6 = '2001:db8::10';

const config = `apiVersion: xdpkit/v1
kind: LoadBalancer
defaults: { mode: ipip, tableSize: 251 }
services:
  - name: web4
    vip: ${VIP4}:80/tcp
    backends: [{ address: 198.19.1.1, mac: "${NEXT_HOP}" }]
  - name: web4via6
    vip: ${VIP4_VIA6}:80/tcp
    backends: [{ address: "2001:db8:1::1", mac: "${NEXT_HOP}" }]
  - name: dns6
    vip: "[${VIP6}]:53/udp"
    backends: [{ address: "2001:db8:1::1", mac: "${NEXT_HOP}" }]
`;

/** An IPv4 TCP packet of exactly `ipLength` bytes (IP header on) from the client to `vip`. */
const tcp4 = (vip: string, ipLength: number, df = true) => frame([eth(), ip4({ dst: vip, df }), tcp(80), payload(Buffer.alloc(ipLength - 40, 0x61))]);
/** An IPv6 UDP packet of exactly `ipLength` bytes (IPv6 header on) from the client to VIP6. */
const udp6 = (ipLength: number) => frame([eth(), ip6({ dst: VIP6 }), udp(53), payload(Buffer.alloc(ipLength - 48, 0x62))]);

/** The message lb must send back: to the client's MAC and address, from the VIP, quoting the packet. */
function tooBig(original: Buffer, family: 4 | 6, vip: string, mtu: number): Buffer {
  const quote = payload(original.subarray(14, 14 + QUOTE));
  const back = eth({ src: MAC.server, dst: MAC.client });
  if (family === 4) {
    return buildPacket([back, ip4({ src: vip, dst: IP4.client, id: 0, ttl: 64, tos: 0, df: false, protocol: 1 }), { type: 'icmp', icmpType: 3, code: 4, id: 0, seq: mtu }, quote]);
  }
  return buildPacket([back, ip6({ src: vip, dst: IP6.client, hopLimit: 64, trafficClass: 0, flowLabel: 0, nextHeader: 58 }), { type: 'icmpv6', icmpType: 2, code: 0, id: mtu >>> 16, seq: mtu & 0xffff }, quote]);
}

describe('lb ipip: packets too big for the egress MTU (BPF_PROG_TEST_RUN on a 1400-MTU veth)', { skip }, () => {
  let bed: Testbed;
  let object: BpfObject;
  const image = compileLoadBalancer(parseLoadBalancerText(config), { ringPerGen: 1 << 12, source: { v4: parseAddress('198.18.0.2'), v6: parseAddress('2001:db8::2') } });

  before(async () => {
    bed = await Testbed.pair({ mtu: MTU });
    object = BpfObject.open(builtinObject('lb'));
    object.setMaxEntries('lb_ring', 2 << 12);
    object.setMaxEntries('lb_conntrack', 1024);
    object.load();
    applyImage(object, image);
  });

  after(async () => {
    object?.close();
    await bed?.destroy();
  });

  /** Runs the frame as if it had arrived on a's eth0 (MTU 1400): that is the device XDP_TX uses. */
  const run = (data: Buffer) => inNs(bed, 'a', () => object.program('xdp_lb').testRun({ data, context: xdpContext(data.length, { ingressIfindex: bed.end('a').ifindex }) }));
  const tooBigCounts = () => readLbStats(object, image).tooBig;

  it('encapsulates what fits: inner + outer header = the MTU exactly', () => {
    const fits4 = run(tcp4(VIP4, MTU - 20));
    assert.equal(fits4.retval, XDP_TX);
    assert.equal(fits4.data.length, 14 + MTU, 'IPv4 in IPv4, 1400 bytes of IP');
    const fits6 = run(udp6(MTU - 40));
    assert.equal(fits6.retval, XDP_TX);
    assert.equal(fits6.data.length, 14 + MTU, 'IPv6 in IPv6');
    assert.deepEqual(tooBigCounts(), { icmp: 0n, dropped: 0n });
  });

  it('answers one byte more with ICMP fragmentation needed / ICMPv6 packet too big, MTU minus the outer header', () => {
    for (const [original, family, vip, mtu] of [
      [tcp4(VIP4, MTU - 19), 4, VIP4, MTU - 20],
      [tcp4(VIP4_VIA6, MTU - 39), 4, VIP4_VIA6, MTU - 40],
      [udp6(MTU - 39), 6, VIP6, MTU - 40],
    ] as const) {
      const out = run(original);
      assert.equal(out.retval, XDP_TX, `${vip}: sent back`);
      assert.ok(checksumsValid(out.data), `${vip}: valid IP and ICMP checksums`);
      assert.deepEqual(out.data, tooBig(original, family, vip, mtu), `${vip}: the exact message`);
    }
    assert.deepEqual(tooBigCounts(), { icmp: 3n, dropped: 0n });
  });

  it('drops an IPv4 packet too big without DF (it cannot be fragmented here), counted', () => {
    const out = run(tcp4(VIP4, MTU - 19, false));
    assert.equal(out.retval, XDP_DROP);
    assert.deepEqual(tooBigCounts(), { icmp: 3n, dropped: 1n });
  });

  it('drops a VLAN-tagged packet too big (the message is built for untagged frames), counted', () => {
    const tagged = frame([eth(), vlan(7), ip4({ dst: VIP4, df: true }), tcp(80, 40100), payload(Buffer.alloc(MTU - 19 - 40, 0x63))]);
    assert.equal(run(tagged).retval, XDP_DROP);
    assert.deepEqual(tooBigCounts(), { icmp: 3n, dropped: 2n });
  });

  it('counts only the packets that went to the backends', () => {
    const stats = readLbStats(object, image);
    const packets = Object.fromEntries(stats.services.map((s) => [s.name, s.packets]));
    assert.deepEqual(packets, { web4: 1n, web4via6: 0n, dns6: 1n });
  });
});
