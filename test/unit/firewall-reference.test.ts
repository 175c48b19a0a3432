import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyFromObject } from '../../src/firewall/load.js';
import { createReferenceEvaluator, MitigationWindows, TokenBuckets, type Decision } from '../../src/firewall/reference.js';
import { buildPacket, type LayerSpec } from '../../src/net/packet.js';

const policy = policyFromObject({
  apiVersion: 'xdpkit/v1',
  kind: 'FirewallPolicy',
  default: 'drop',
  malformed: 'drop',
  blocklists: [
    { name: 'wide', entries: ['198.19.0.0/16'] },
    { name: 'narrow', entries: ['198.19.7.0/24', '2001:db8:bad::/48'] },
  ],
  rules: [
    { name: 'dns', action: 'pass', proto: 'udp', dst: ['198.18.0.53', '2001:db8::53'], dstPorts: [53] },
    { name: 'v4-ssh', action: 'pass', proto: 'tcp', src: ['198.18.1.0/24'], dstPorts: ['20-22'] },
    { name: 'syn', action: 'rate-limit', proto: 'tcp', tcpFlags: 'syn,!ack', rate: { pps: 1, burst: 2 } },
    { name: 'icmp', action: 'pass', proto: 'icmp' },
    { name: 'v6-any', action: 'pass', src: ['2001:db8:1::/48'] },
    { name: 'web', action: 'pass', dstPorts: [80, 443] },
  ],
});
const ref = createReferenceEvaluator(policy);

const eth: LayerSpec = { type: 'eth' };
const v4 = (src: string, dst: string, extra: object = {}): LayerSpec => ({ type: 'ipv4', src, dst, ...extra });
const v6 = (src: string, dst: string): LayerSpec => ({ type: 'ipv6', src, dst });
const udp = (s: number, d: number): LayerSpec => ({ type: 'udp', srcPort: s, dstPort: d });
const tcp = (s: number, d: number, flags = 0x10): LayerSpec => ({ type: 'tcp', srcPort: s, dstPort: d, flags });
const pkt = (...l: LayerSpec[]) => buildPacket(l);
const short = (b: Buffer, n: number) => b.subarray(0, b.length - n);
const by = (d: Decision) => (d.kind === 'rule' ? `${d.verdict} rule ${d.name}` : d.kind === 'blocklist' ? `drop blocklist ${d.name}` : `${d.verdict} ${d.kind}`);

const table: [string, Buffer, string][] = [
  ['ARP passes', buildPacket([{ type: 'eth', etherType: 0x0806 }, { type: 'payload', data: new Uint8Array(28) }]), 'pass non-ip'],
  ['runt frame is not IP', Buffer.alloc(10), 'pass non-ip'],
  ['DNS to the resolver', pkt(eth, v4('198.18.5.5', '198.18.0.53'), udp(999, 53)), 'pass rule dns'],
  ['DNS behind two VLAN tags', pkt(eth, { type: 'vlan', vid: 1, tpid: 0x88a8 }, { type: 'vlan', vid: 2 }, v4('198.18.5.5', '198.18.0.53'), udp(999, 53)), 'pass rule dns'],
  ['three VLAN tags: not IP', pkt(eth, { type: 'vlan', vid: 1 }, { type: 'vlan', vid: 2 }, { type: 'vlan', vid: 3 }, v4('198.18.5.5', '198.18.0.53'), udp(9, 53)), 'pass non-ip'],
  ['DNS over IPv6', pkt(eth, v6('2001:db8:9::1', '2001:db8::53'), udp(999, 53)), 'pass rule dns'],
  ['DNS to another server: default', pkt(eth, v4('198.18.5.5', '198.18.0.54'), udp(999, 53)), 'drop default'],
  ['blocklist before rules', pkt(eth, v4('198.19.1.1', '198.18.0.53'), udp(999, 53)), 'drop blocklist wide'],
  ['longest blocklist prefix is reported', pkt(eth, v4('198.19.7.1', '198.18.0.53'), udp(9, 53)), 'drop blocklist narrow'],
  ['IPv6 blocklist', pkt(eth, v6('2001:db8:bad::1', '2001:db8::53'), udp(9, 53)), 'drop blocklist narrow'],
  ['ssh from the office', pkt(eth, v4('198.18.1.9', '198.18.0.1'), tcp(5000, 22)), 'pass rule v4-ssh'],
  ['ssh from elsewhere', pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(5000, 22)), 'drop default'],
  ['an IPv4-only rule never matches IPv6', pkt(eth, v6('2001:db8:2::1', '2001:db8::1'), tcp(5000, 22)), 'drop default'],
  ['an IPv6-only rule never matches IPv4', pkt(eth, v4('198.18.2.9', '198.18.0.1'), { type: 'icmp' }), 'pass rule icmp'],
  ['IPv6 rule', pkt(eth, v6('2001:db8:1::1', '2001:db8::1'), { type: 'icmpv6' }), 'pass rule v6-any'],
  ['SYN within its bucket', pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(5000, 25, 0x02)), 'pass rule syn'],
  ['SYN-ACK is not matched by syn,!ack', pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(5000, 25, 0x12)), 'drop default'],
  ['ports without proto match TCP', pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(5000, 443)), 'pass rule web'],
  ['ports without proto match UDP', pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(5000, 80)), 'pass rule web'],
  ['first fragment carries ports', pkt(eth, v4('198.18.2.9', '198.18.0.1', { mf: true }), udp(5000, 80)), 'pass rule web'],
  ['later fragment never port-matched', pkt(eth, v4('198.18.2.9', '198.18.0.1', { fragmentOffset: 1480, protocol: 17 }), { type: 'payload', data: new Uint8Array(8) }), 'drop default'],
  ['later fragment: even its bytes look like port 80', pkt(eth, v4('198.18.2.9', '198.18.0.1', { fragmentOffset: 8, protocol: 17 }), udp(5000, 80)), 'drop default'],
  ['later fragment truncated is not malformed', pkt(eth, v4('198.18.2.9', '198.18.0.1', { fragmentOffset: 8, protocol: 6 })), 'drop default'],
  ['IPv6 later fragment', pkt(eth, v6('2001:db8:2::1', '2001:db8::1'), { type: 'fragment', fragmentOffset: 8, nextHeader: 17 }, udp(5000, 80)), 'drop default'],
  ['IPv6 first fragment after a hop-by-hop header', pkt(eth, v6('2001:db8:2::1', '2001:db8::1'), { type: 'hop-by-hop' }, { type: 'fragment', mf: true, nextHeader: 17 }, udp(5000, 80)), 'pass rule web'],
  ['IPv4 header truncated', short(pkt(eth, v4('198.18.2.9', '198.18.0.1', { protocol: 99 })), 1), 'drop malformed'],
  ['IPv4 version 5', (() => { const b = pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(1, 80)); b[14] = 0x55; return b; })(), 'drop malformed'],
  ['IPv4 IHL 4', (() => { const b = pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(1, 80)); b[14] = 0x44; return b; })(), 'drop malformed'],
  ['IPv4 options cut', short(pkt(eth, v4('198.18.2.9', '198.18.0.1', { options: new Uint8Array([1, 1, 1, 1]), protocol: 99 })), 2), 'drop malformed'],
  ['UDP header cut', short(pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(1, 80)), 1), 'drop malformed'],
  ['TCP header cut', short(pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(1, 80)), 1), 'drop malformed'],
  ['ICMP needs only 4 bytes', short(pkt(eth, v4('198.18.2.9', '198.18.0.1'), { type: 'icmp' }), 4), 'pass rule icmp'],
  ['ICMP with 3 bytes', short(pkt(eth, v4('198.18.2.9', '198.18.0.1'), { type: 'icmp' }), 5), 'drop malformed'],
  ['IPv6 header cut', short(pkt(eth, v6('2001:db8:1::1', '2001:db8::1')), 1), 'drop malformed'],
  ['IPv6 extension header cut', short(pkt(eth, v6('2001:db8:1::1', '2001:db8::1'), { type: 'dest-opts', nextHeader: 59 }), 1), 'drop malformed'],
  ['IPv6 with 8 extension headers is fine', pkt(eth, v6('2001:db8:1::1', '2001:db8::1'), ...Array.from({ length: 8 }, (): LayerSpec => ({ type: 'dest-opts' })), { type: 'icmpv6' }), 'pass rule v6-any'],
  ['IPv6 with 9 extension headers is malformed', pkt(eth, v6('2001:db8:1::1', '2001:db8::1'), ...Array.from({ length: 9 }, (): LayerSpec => ({ type: 'dest-opts' })), { type: 'icmpv6' }), 'drop malformed'],
];

describe('firewall reference evaluator', () => {
  for (const [name, frame, want] of table) {
    it(name, () => assert.equal(by(ref.evaluate(frame)), want));
  }

  it('rate-limit: within the bucket pass, beyond it drop, refilled with time', () => {
    let now = 0n;
    const buckets = new TokenBuckets(() => now);
    const syn = pkt(eth, v4('198.18.2.9', '198.18.0.1'), tcp(5000, 25, 0x02));
    const other = pkt(eth, v4('198.18.2.10', '198.18.0.1'), tcp(5000, 25, 0x02));
    const run = (f: Buffer) => by(ref.evaluate(f, { rateLimit: buckets.limiter }));
    assert.equal(run(syn), 'pass rule syn');
    assert.equal(run(syn), 'pass rule syn');
    assert.equal(run(syn), 'drop rule syn');
    assert.equal(run(other), 'pass rule syn', 'buckets are per source address');
    now += 1_000_000_000n;
    assert.equal(run(syn), 'pass rule syn');
    assert.equal(run(syn), 'drop rule syn');
  });

  it('malformed: pass is honoured, and no blocklist is consulted for it', () => {
    const p = policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', malformed: 'pass', default: 'drop', blocklists: [{ name: 'all', entries: ['0.0.0.0/0'] }] });
    const r = createReferenceEvaluator(p);
    assert.equal(by(r.evaluate(short(pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(1, 80)), 1))), 'pass malformed');
    assert.equal(by(r.evaluate(pkt(eth, v4('198.18.2.9', '198.18.0.1'), udp(1, 80)))), 'drop blocklist all');
  });

  it('mitigation: threshold.pps packets per window pass, the next blocks the source for blockFor; windows roll over', () => {
    let now = 0n;
    const model = new MitigationWindows(() => now);
    const p = policyFromObject({
      apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'pass',
      blocklists: [{ name: 'bad', entries: ['198.19.0.0/16'] }],
      rules: [{ name: 'no-telnet', action: 'drop', proto: 'tcp', dstPorts: [23] }],
      mitigation: { threshold: { pps: 3 }, blockFor: '10s' },
    });
    const r = createReferenceEvaluator(p);
    const run = (src: string, dport = 80) => by(r.evaluate(pkt(eth, v4(src, '198.18.0.1'), tcp(5000, dport)), { mitigate: model.mitigate }));
    assert.equal(run('198.18.2.9', 23), 'drop rule no-telnet', 'counted, then the rules decide');
    assert.equal(run('198.18.2.9'), 'pass default');
    assert.equal(run('198.18.2.9'), 'pass default');
    assert.equal(run('198.18.2.9'), 'drop mitigated', 'the fourth packet in one second');
    assert.equal(run('198.18.2.10'), 'pass default', 'per source');
    assert.equal(run('198.19.0.1'), 'drop blocklist bad', 'blocklists come first and are not counted');
    now += 9_999_999_999n;
    assert.equal(run('198.18.2.9'), 'drop mitigated', 'still blocked just before blockFor ends');
    now += 1n;
    assert.equal(run('198.18.2.9'), 'pass default', 'the block ended; 2 packets in the window that began 1 ns ago');
    assert.equal(run('198.18.2.9'), 'pass default');
    assert.equal(run('198.18.2.9'), 'drop mitigated', 'blocked packets count: four in this window');
    now += 10_000_000_000n;
    for (let i = 0; i < 3; i++) assert.equal(run('198.18.2.9'), 'pass default', 'a quiet source starts clean');
    assert.equal(by(r.evaluate(pkt(eth, v4('198.18.2.11', '198.18.0.1'), tcp(5000, 80)))), 'pass default', 'no state given: never mitigated');
  });

  it('manual blocks come before blocklists and rules', () => {
    const p = policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'pass', blocklists: [{ name: 'bad', entries: ['198.19.0.0/16'] }] });
    const blocked = (family: number, src: Uint8Array) => family === 4 && src[3] === 1;
    const r = createReferenceEvaluator(p);
    assert.equal(by(r.evaluate(pkt(eth, v4('198.19.0.1', '198.18.0.1'), udp(1, 80)), { blocked })), 'drop blocked');
    assert.equal(by(r.evaluate(pkt(eth, v4('198.19.0.2', '198.18.0.1'), udp(1, 80)), { blocked })), 'drop blocklist bad');
    assert.equal(by(r.evaluate(pkt(eth, v4('198.18.0.2', '198.18.0.1'), udp(1, 80)), { blocked })), 'pass default');
  });
});
