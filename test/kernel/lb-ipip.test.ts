/**
 * lb ipip mode and lb_decap through BPF_PROG_TEST_RUN, state written by the real compiler and
 * applier: the exact bytes of the encapsulated frame for the four family pairs (outer built
 * independently with src/net's builder, checksums verified), the decap round trip back to the
 * original packet, VLAN tags kept in front of the outer header, what decap leaves alone, and the
 * per-service / per-backend counters.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BpfObject } from '../../src/bpf/object.js';
import { xdpContext } from '../../src/bpf/test-run.js';
import { u8 } from '../../src/bpf/codecs.js';
import { buildPacket } from '../../src/net/packet.js';
import { checksumsValid } from '../../src/net/packet-verify.js';
import { applyImage } from '../../src/lb/apply.js';
import { compileLoadBalancer } from '../../src/lb/compile.js';
import { decapKeyCodec } from '../../src/lb/layout.js';
import { parseAddress, parseLoadBalancerText } from '../../src/lb/schema.js';
import { readLbStats } from '../../src/lb/stats.js';
import { eth, frame, ip4, ip6, MAC, payload, qinq, tcp, udp, vlan, type VlanSpec } from '../helpers/frames.js';
import { builtinObject } from '../helpers/paths.js';

const RING = 1 << 14;
const XDP_PASS = 2;
const XDP_TX = 3;
const NEXT_HOP = '02:00:00:00:0a:01';
const LB4 = '198.18.0.2';
const LB6 = '2001:db8::2';
const BE4 = '198.19.1.1';
const BE6 = '2001:db8:1::1';

const config = `apiVersion: xdpkit/v1
kind: LoadBalancer
defaults: { mode: ipip, tableSize: 251 }
services:
  - name: web4
    vip: 198.18.0.10:80/tcp
    backends: [{ address: ${BE4}, mac: "${NEXT_HOP}" }]
  - name: web4via6
    vip: 198.18.0.11:80/tcp
    backends: [{ address: "${BE6}", mac: "${NEXT_HOP}" }]
  - name: dns6
    vip: "[2001:db8::10]:53/udp"
    backends: [{ address: "${BE6}", mac: "${NEXT_HOP}" }]
  - name: dns6via4
    vip: "[2001:db8::11]:53/udp"
    backends: [{ address: ${BE4}, mac: "${NEXT_HOP}" }]
  - name: plain
    vip: 198.18.0.12:80/tcp
    mode: dsr-l2
    backends: [{ address: 198.18.0.50, mac: "02:00:00:00:0b:01" }]
`;

/** The frame lb should send: Ethernet to the next hop, the frame's VLAN tags, outer header, the inner IP packet. */
function expected(inner: Buffer, outer: 4 | 6, innerFamily: 4 | 6, tags: VlanSpec[] = []): Buffer {
  const ip = inner.subarray(14 + 4 * tags.length);
  const proto = innerFamily === 4 ? 4 : 41;
  const tos = innerFamily === 4 ? ip[1]! : ((ip[0]! & 0x0f) << 4) | (ip[1]! >> 4);
  return buildPacket([
    eth({ src: MAC.server, dst: NEXT_HOP }),
    ...tags,
    outer === 4
      ? ip4({ src: LB4, dst: BE4, id: 0, ttl: 64, tos, protocol: proto, df: false })
      : ip6({ src: LB6, dst: BE6, hopLimit: 64, trafficClass: tos, flowLabel: 0, nextHeader: proto }),
    payload(ip),
  ]);
}

describe('lb ipip and lb_decap (BPF_PROG_TEST_RUN)', () => {
  const lb = BpfObject.open(builtinObject('lb'));
  const decap = BpfObject.open(builtinObject('lb_decap'));
  after(() => {
    lb.close();
    decap.close();
  });
  lb.setMaxEntries('lb_ring', 2 * RING);
  lb.setMaxEntries('lb_conntrack', 4096);
  lb.load();
  decap.load();
  const image = compileLoadBalancer(parseLoadBalancerText(config), { ringPerGen: RING, source: { v4: parseAddress(LB4), v6: parseAddress(LB6) } });
  applyImage(lb, image);
  const addrs = decap.map('lb_decap_addrs').withCodecs(decapKeyCodec, u8);
  for (const a of [BE4, BE6]) {
    const p = parseAddress(a);
    addrs.set({ addr: p.bytes, family: p.family }, 1);
  }
  const runLb = (data: Buffer) => lb.program('xdp_lb').testRun({ data, context: xdpContext(data.length) });
  const runDecap = (data: Buffer) => decap.program('xdp_lb_decap').testRun({ data, context: xdpContext(data.length) });

  const cases: { name: string; inner: Buffer; outer: 4 | 6; family: 4 | 6 }[] = [
    { name: 'IPv4 in IPv4', inner: frame([eth(), ip4({ dst: '198.18.0.10', tos: 0x28 }), tcp(80), payload('hello')]), outer: 4, family: 4 },
    { name: 'IPv4 in IPv6', inner: frame([eth(), ip4({ dst: '198.18.0.11' }), tcp(80, 40001), payload('hi')]), outer: 6, family: 4 },
    { name: 'IPv6 in IPv6', inner: frame([eth(), ip6({ dst: '2001:db8::10', trafficClass: 0xb8 }), udp(53), payload('query')]), outer: 6, family: 6 },
    { name: 'IPv6 in IPv4', inner: frame([eth(), ip6({ dst: '2001:db8::11' }), udp(53), payload('q')]), outer: 4, family: 6 },
  ];
  for (const c of cases) {
    it(`${c.name}: exact encapsulation bytes, valid checksums, decap gives the packet back`, () => {
      const out = runLb(c.inner);
      assert.equal(out.retval, XDP_TX);
      const want = expected(c.inner, c.outer, c.family);
      assert.equal(out.data.toString('hex'), want.toString('hex'));
      assert.ok(checksumsValid(out.data));
      const back = runDecap(out.data);
      assert.equal(back.retval, XDP_PASS);
      // The inner packet under the outer frame's Ethernet addresses.
      const original = Buffer.from(c.inner);
      Buffer.from(out.data.subarray(0, 12)).copy(original, 0);
      assert.equal(back.data.toString('hex'), original.toString('hex'));
    });
  }

  it('keeps VLAN tags (802.1Q, QinQ) in front of the outer header', () => {
    for (const [tags, inner, outer, family] of [
      [[vlan(100)], frame([eth(), vlan(100), ip4({ dst: '198.18.0.10' }), tcp(80, 40010), payload('tagged')]), 4, 4],
      [qinq(), frame([eth(), ...qinq(), ip6({ dst: '2001:db8::10' }), udp(53, 40011), payload('qinq')]), 6, 6],
      [qinq(), frame([eth(), ...qinq(), ip4({ dst: '198.18.0.11' }), tcp(80, 40012)]), 6, 4],
    ] as const) {
      const out = runLb(inner);
      assert.equal(out.retval, XDP_TX);
      assert.equal(out.data.toString('hex'), expected(inner, outer, family, [...tags]).toString('hex'));
      assert.ok(checksumsValid(out.data));
    }
  });

  it('decap leaves alone: other destinations, non-tunnel packets, a mismatched inner version', () => {
    const encap = runLb(cases[0]!.inner).data;
    const otherDst = buildPacket([eth(), ip4({ src: LB4, dst: '198.19.9.9', protocol: 4 }), payload(encap.subarray(34))]);
    const inner6as4 = buildPacket([eth(), ip4({ src: LB4, dst: BE4, protocol: 4 }), payload(cases[2]!.inner.subarray(14))]);
    for (const data of [otherDst, inner6as4, frame([eth(), ip4({ dst: BE4 }), udp(53)]), frame([eth(), ip6({ dst: BE6 }), tcp(80)])]) {
      const out = runDecap(data);
      assert.equal(out.retval, XDP_PASS);
      assert.deepEqual(out.data, data);
    }
  });

  it('counts packets, bytes and new flows per service and per backend', () => {
    const data = frame([eth(), ip4({ dst: '198.18.0.12' }), tcp(80, 45000), payload('x'.repeat(100))]);
    for (let i = 0; i < 5; i++) assert.equal(runLb(data).retval, XDP_TX);
    runLb(frame([eth(), ip4({ dst: '198.18.0.12' }), tcp(80, 45001)]));
    const stats = readLbStats(lb, image);
    const svc = stats.services.find((s) => s.name === 'plain')!;
    assert.equal(svc.packets, 6n);
    assert.equal(svc.newFlows, 2n);
    assert.equal(svc.bytes, BigInt(5 * data.length + frame([eth(), ip4({ dst: '198.18.0.12' }), tcp(80, 45001)]).length));
    const be = stats.backends.find((b) => b.address === '198.18.0.50')!;
    assert.equal(be.packets, 6n);
    assert.equal(be.newFlows, 2n);
    assert.ok(stats.services.find((s) => s.name === 'web4')!.packets >= 1n);
  });

  it('an established flow follows its service from dsr-l2 to ipip (the mode is read from its backend)', () => {
    const data = frame([eth(), ip4({ dst: '198.18.0.12' }), tcp(80, 45100), payload('switch')]);
    const dsr = runLb(data);
    assert.equal(dsr.retval, XDP_TX);
    assert.deepEqual(dsr.data.subarray(0, 6), Buffer.from('020000000b01', 'hex'), 'dsr-l2: the backend\'s MAC');
    assert.equal(dsr.data.length, data.length);
    const switched = config.replace(/(name: plain\n    vip: 198\.18\.0\.12:80\/tcp\n)    mode: dsr-l2\n/, '$1    mode: ipip\n');
    assert.notEqual(switched, config);
    const next = compileLoadBalancer(parseLoadBalancerText(switched), { previous: image, ringPerGen: RING, source: { v4: parseAddress(LB4), v6: parseAddress(LB6) } });
    applyImage(lb, next);
    const before = readLbStats(lb, next).services.find((s) => s.name === 'plain')!;
    const out = runLb(data);
    assert.equal(out.retval, XDP_TX);
    assert.equal(out.data.length, data.length + 20, 'encapsulated in IPv4 toward 198.18.0.50');
    assert.ok(checksumsValid(out.data));
    const after = readLbStats(lb, next).services.find((s) => s.name === 'plain')!;
    assert.equal(after.newFlows, before.newFlows, 'still the same flow (a conntrack hit)');
  });

  it('refuses ipip without the outer source address', () => {
    assert.throws(
      () => compileLoadBalancer(parseLoadBalancerText(config), { ringPerGen: RING }),
      (e: Error & { details?: string }) => /IPv4 address as outer source/.test(e.details ?? '') && /IPv6 address as outer source/.test(e.details ?? ''),
    );
  });
});
