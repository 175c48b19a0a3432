/**
 * reflect through BPF_PROG_TEST_RUN: a table of {description, input, verdict, expected output}
 * where the expected output is the answer built from scratch (swapped MACs, addresses and ports,
 * echo reply type, every checksum computed fresh by the builder), so the kernel's in-place
 * rewrite must match it byte for byte; src/net's checksum verifier checks the output too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findLayer, parsePacket, verifyChecksums, type ParsedPacket } from '../../src/net/packet.js';
import {
  authHeader,
  arpRequest,
  destOpts,
  eth,
  ethBack,
  fragment6,
  frame,
  headersEnd,
  hopByHop,
  icmp,
  icmp6,
  IP4,
  ip4,
  ip4Back,
  IP6,
  ip6,
  ip6Back,
  MAC,
  payload,
  PROTO,
  qinq,
  routing,
  tcp,
  TPID_8021AD,
  TPID_8021Q,
  udp,
  udpLookalike,
  vlan,
  type LayerSpec,
} from '../helpers/frames.js';
import { builtinObject } from '../helpers/paths.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { assertCase, Harness, objectScope, prefixes, readStats, totals } from '../helpers/xdp.js';

interface TxRow {
  description: string;
  input: LayerSpec[];
  output: LayerSpec[];
  /**
   * Checksums the output must carry, all valid (ipv4 header + transport, or transport alone);
   * "layer:status" for another status. Exact bytes equal to the builder's answer prove the rest.
   */
  checksums: string[];
  /** Also run every prefix of it. */
  cut?: boolean;
}

const tx = (description: string, input: LayerSpec[], output: LayerSpec[], checksums: string[]): TxRow => ({ description, input, output, checksums });
const cut = (row: TxRow): TxRow => ({ ...row, cut: true });
const ping = payload('abcdefghijklmnopqrstuvwabcdefghi');
const V4 = ['ipv4', 'udp'];

const answered: TxRow[] = [
  cut(tx('UDP/IPv4: MACs, addresses and ports swapped', [eth(), ip4(), udp(53), payload('query')], [ethBack(), ip4Back(), udp(40000, 53), payload('query')], V4)),
  cut(
tx(
    'UDP/IPv4 with options (IHL 8): ports found after them',
    [eth(), ip4({ options: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]) }), udp(5353, 5300), payload('mdns')],
    [ethBack(), ip4Back({ options: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]) }), udp(5300, 5353), payload('mdns')],
    V4,
  )),

  tx('UDP/IPv4 without checksum (0) keeps it 0', [eth(), ip4(), udp(53, 40000, { checksum: 0 }), payload('q')], [ethBack(), ip4Back(), udp(40000, 53, { checksum: 0 }), payload('q')], V4),
  tx('UDP/IPv4 with Ethernet padding: the trailer is kept', [eth(), ip4(), udp(7), payload('x'), { type: 'trailer', data: Buffer.alloc(17, 0xee) }], [ethBack(), ip4Back(), udp(40000, 7), payload('x'), { type: 'trailer', data: Buffer.alloc(17, 0xee) }], V4),
  tx('UDP/IPv6', [eth(), ip6(), udp(53), payload('query')], [ethBack(), ip6Back(), udp(40000, 53), payload('query')], ['udp']),
  cut(tx('UDP/IPv6 atomic fragment (not a fragment, RFC 6946)', [eth(), ip6(), fragment6(0, false), udp(53), payload('q')], [ethBack(), ip6Back(), fragment6(0, false), udp(40000, 53), payload('q')], ['udp:unchecked'])),
  tx(
    'TCP/IPv4 PSH+ACK with data',
    [eth(), ip4({ ttl: 3, tos: 0x10 }), tcp(80, 40000, { flags: 'PA', seq: 7, ack: 9 }), payload('GET / HTTP/1.1\r\n')],
    [ethBack(), ip4Back({ ttl: 3, tos: 0x10 }), tcp(40000, 80, { flags: 'PA', seq: 7, ack: 9 }), payload('GET / HTTP/1.1\r\n')],
    ['ipv4', 'tcp'],
  ),
  cut(
tx(
    'TCP/IPv6 with options (data offset 8) after destination options',
    [eth(), ip6(), destOpts(), tcp(443, 40000, { options: Buffer.from([2, 4, 5, 0xa0, 4, 2, 1, 1, 1, 3, 3, 7]) }), payload('x')],
    [ethBack(), ip6Back(), destOpts(), tcp(40000, 443, { options: Buffer.from([2, 4, 5, 0xa0, 4, 2, 1, 1, 1, 3, 3, 7]) }), payload('x')],
    ['tcp'],
  )),

  cut(tx('ICMP echo request → echo reply', [eth(), ip4(), icmp(8), ping], [ethBack(), ip4Back(), icmp(0), ping], ['ipv4', 'icmp'])),
  tx(
    'ICMP echo request, odd payload, id 0xffff seq 0xfff7 → reply',
    [eth(), ip4(), icmp(8, { id: 0xffff, seq: 0xfff7 }), payload('abc')],
    [ethBack(), ip4Back(), icmp(0, { id: 0xffff, seq: 0xfff7 }), payload('abc')],
    ['ipv4', 'icmp'],
  ),
  tx('ICMP echo request with IP options → reply', [eth(), ip4({ options: Buffer.from([1, 1, 1, 0]) }), icmp(8), ping], [ethBack(), ip4Back({ options: Buffer.from([1, 1, 1, 0]) }), icmp(0), ping], ['ipv4', 'icmp']),
  cut(
tx(
    'ICMP echo request in 802.1Q (PCP 5, VID 42) → reply, tag kept',
    [eth(), vlan(42, TPID_8021Q, { pcp: 5 }), ip4(), icmp(8), ping],
    [ethBack(), vlan(42, TPID_8021Q, { pcp: 5 }), ip4Back(), icmp(0), ping],
    ['ipv4', 'icmp'],
  )),

  tx('ICMPv6 echo request → echo reply', [eth(), ip6(), icmp6(128), ping], [ethBack(), ip6Back(), icmp6(129), ping], ['icmpv6']),
  tx(
    'ICMPv6 echo request after hop-by-hop → reply',
    [eth(), ip6({ hopLimit: 1 }), hopByHop({ options: Buffer.from([5, 2, 0, 0]) }), icmp6(128, { id: 1, seq: 2 }), payload(Buffer.alloc(56, 0x7a))],
    [ethBack(), ip6Back({ hopLimit: 1 }), hopByHop({ options: Buffer.from([5, 2, 0, 0]) }), icmp6(129, { id: 1, seq: 2 }), payload(Buffer.alloc(56, 0x7a))],
    ['icmpv6'],
  ),
  cut(tx('ICMPv6 echo request in QinQ → reply, both tags kept', [eth(), ...qinq(300, 30), ip6(), icmp6(128), ping], [ethBack(), ...qinq(300, 30), ip6Back(), icmp6(129), ping], ['icmpv6'])),
  tx('UDP/IPv6 in QinQ, tags kept', [eth(), ...qinq(), ip6({ flowLabel: 0x12345 }), udp(4789), payload('vx')], [ethBack(), ...qinq(), ip6Back({ flowLabel: 0x12345 }), udp(40000, 4789), payload('vx')], ['udp']),
  cut(tx('TCP/IPv4 in 802.1Q', [eth(), vlan(7), ip4(), tcp(22)], [ethBack(), vlan(7), ip4Back(), tcp(40000, 22)], ['ipv4', 'tcp'])),
  cut(
tx(
    'UDP/IPv6 after routing + AH: addresses swapped, headers untouched',
    [eth(), ip6(), routing({ nextHeader: PROTO.AH }), authHeader(PROTO.UDP, 1), udp(500), payload('ike')],
    [ethBack(), ip6Back(), routing({ nextHeader: PROTO.AH }), authHeader(PROTO.UDP, 1), udp(40000, 500), payload('ike')],
    [],
  )),

];

interface PassRow {
  description: string;
  layers: LayerSpec[];
}
const untouched = (description: string, layers: LayerSpec[]): PassRow => ({ description, layers });

const passed: PassRow[] = [
  untouched('ICMP echo reply', [eth(), ip4(), icmp(0), ping]),
  untouched('ICMP destination unreachable', [eth(), ip4(), icmp(3, { code: 1 }), payload(frame([eth(), ip4(), udp(53)]).subarray(14))]),
  untouched('ICMP time exceeded', [eth(), ip4(), icmp(11), payload(Buffer.alloc(28))]),
  untouched('ICMP timestamp request', [eth(), ip4(), icmp(13), payload(Buffer.alloc(12))]),
  untouched('ICMPv6 echo reply', [eth(), ip6(), icmp6(129), ping]),
  untouched('ICMPv6 neighbour solicitation', [eth(), ip6({ hopLimit: 255 }), icmp6(135), payload(Buffer.alloc(16))]),
  untouched('ICMPv6 destination unreachable', [eth(), ip6(), icmp6(1, { code: 4 }), payload(Buffer.alloc(48))]),
  untouched('ICMP type 8 inside IPv6 (protocol 1 is not ICMPv6)', [eth(), ip6({ nextHeader: PROTO.ICMP }), payload(frame([eth(), ip4(), icmp(8)]).subarray(34))]),
  untouched('ICMPv6 type 128 inside IPv4 (protocol 58)', [eth(), ip4({ protocol: PROTO.ICMPV6 }), payload(Buffer.from([128, 0, 0, 0, 0, 1, 0, 1]))]),
  untouched('UDP/IPv4 first fragment', [eth(), ip4({ mf: true }), udp(53, 40000, { udpLength: 2000 }), payload(Buffer.alloc(32))]),
  untouched('UDP/IPv4 later fragment', [eth(), ip4({ fragmentOffset: 800, protocol: PROTO.UDP }), udpLookalike(53)]),
  untouched('ICMP echo request, first fragment', [eth(), ip4({ mf: true }), icmp(8), payload(Buffer.alloc(32))]),
  untouched('TCP/IPv4 later fragment', [eth(), ip4({ fragmentOffset: 8, mf: true, protocol: PROTO.TCP }), payload(Buffer.alloc(32))]),
  untouched('UDP/IPv6 first fragment', [eth(), ip6(), fragment6(0, true), udp(53, 40000, { udpLength: 2000 }), payload(Buffer.alloc(32))]),
  untouched('UDP/IPv6 later fragment', [eth(), ip6(), fragment6(1448, false, { nextHeader: PROTO.UDP }), udpLookalike(53)]),
  untouched('ICMPv6 echo request, first fragment after hop-by-hop', [eth(), ip6(), hopByHop(), fragment6(0, true), icmp6(128), payload(Buffer.alloc(32))]),
  untouched('UDP/IPv4 to the broadcast MAC', [eth({ dst: MAC.broadcast }), ip4({ dst: '198.19.255.255' }), udp(67)]),
  untouched('UDP/IPv4 to an IPv4 multicast MAC', [eth({ dst: MAC.mdns4 }), ip4({ dst: '224.0.0.251' }), udp(5353)]),
  untouched('ICMPv6 echo request to the all-nodes MAC', [eth({ dst: MAC.allNodes }), ip6({ dst: 'ff02::1' }), icmp6(128), ping]),
  untouched('TCP to a group MAC with a unicast IP (the MAC decides)', [eth({ dst: '03:00:00:00:00:01' }), ip4(), tcp(80)]),
  untouched('GRE/IPv4', [eth(), ip4({ protocol: PROTO.GRE }), payload(Buffer.alloc(8))]),
  untouched('ESP/IPv6', [eth(), ip6({ nextHeader: PROTO.ESP }), payload(Buffer.alloc(24))]),
  untouched('IPv6, no next header', [eth(), ip6()]),
  untouched('IPv4 IHL 3 (invalid)', [eth(), ip4({ ihl: 3 }), udp(53), payload('q')]),
  untouched('TCP data offset 4 (invalid)', [eth(), ip4(), tcp(80, 40000, { dataOffset: 4 })]),
  untouched('TCP data offset 15 with the packet ending first', [eth(), ip4(), tcp(80, 40000, { dataOffset: 15 }), payload('x')]),
  untouched('UDP/IPv4 under three VLAN tags (over the limit)', [eth(), vlan(1, TPID_8021AD), vlan(2), vlan(3), ip4(), udp(53)]),
  untouched('UDP/IPv6 after seven extension headers (over the limit)', [eth(), ip6(), hopByHop(), destOpts(), destOpts(), destOpts(), destOpts(), destOpts(), destOpts(), udp(53)]),
  untouched('IPv4 EtherType carrying version 6', [eth({ etherType: 0x0800 }), ip6(), udp(53)]),
];

/** The output parses as the input with both ends exchanged, at every layer that has two ends. */
function assertEndsSwapped(input: ParsedPacket, output: ParsedPacket, description: string): void {
  assert.deepEqual(
    output.layers.map((l) => l.type),
    input.layers.map((l) => l.type),
    `${description}: same layers`,
  );
  for (const type of ['eth', 'ipv4', 'ipv6'] as const) {
    const a = findLayer(input, type);
    const b = findLayer(output, type);
    if (a && b) assert.deepEqual([b.src, b.dst], [a.dst, a.src], `${description}: ${type} ends swapped`);
  }
  for (const type of ['tcp', 'udp'] as const) {
    const a = findLayer(input, type);
    const b = findLayer(output, type);
    if (a && b) assert.deepEqual([b.srcPort, b.dstPort], [a.dstPort, a.srcPort], `${description}: ${type} ports swapped`);
  }
}

function assertChecksums(output: Buffer, layers: string[], description: string): void {
  const checks = verifyChecksums(output);
  assert.deepEqual(
    checks.map((c) => `${c.layer}:${c.status}`),
    layers.map((l) => (l.includes(':') ? l : `${l}:valid`)),
    `${description}: checksums (${JSON.stringify(checks)})`,
  );
}

describe('reflect', () => {
  const scope = objectScope();
  const reflect = new Harness(scope.load(builtinObject('reflect')), 'xdp_reflect');

  it('counts a known run exactly: packets and bytes per action, summed over CPUs', () => {
    reflect.resetStats();
    const echo = frame([eth(), ip4(), icmp(8), ping]); // 14 + 20 + 8 + 32
    const reply = frame([eth(), ip4(), icmp(0), ping]);
    const dns = frame([eth(), ip6(), udp(53), payload('query')]); // 14 + 40 + 8 + 5
    const arp = arpRequest(); // 14 + 28
    assert.deepEqual([echo.length, reply.length, dns.length, arp.length], [74, 74, 67, 42]);
    reflect.run(echo);
    reflect.run(reply, 3);
    reflect.run(arp);
    // Repetitions of one test run share the buffer: UDP is swapped back and forth (TX each
    // time), and after an even number of swaps the packet is the original again.
    const repeated = reflect.run(dns, 10);
    assert.equal(repeated.verdict, 'tx');
    assert.ok(repeated.data.equals(dns), 'ten swaps give the original packet back');
    assert.deepEqual(readStats(reflect.object), totals({ tx: [11, 74 + 670], pass: [4, 3 * 74 + 42] }));
  });

  it('repetitions share the buffer: an echo request is answered once, then its reply passes', () => {
    const echo = frame([eth(), ip4(), icmp(8), ping]);
    const before = readStats(reflect.object);
    const result = reflect.program.testRun({ data: echo, repeat: 5 });
    assert.equal(result.retval, 2, 'the last repetition saw an echo reply');
    assert.ok(result.data.equals(frame([ethBack(), ip4Back(), icmp(0), ping])), 'answered exactly once');
    const after = readStats(reflect.object);
    assert.deepEqual(
      [after.tx.packets - before.tx.packets, after.pass.packets - before.pass.packets],
      [1n, 4n],
    );
    // Outside the harness: record it so the final comparison with xdp_stats still holds.
    reflect.tally.tx.packets += 1n;
    reflect.tally.tx.bytes += BigInt(echo.length);
    reflect.tally.pass.packets += 4n;
    reflect.tally.pass.bytes += BigInt(4 * echo.length);
  });

  for (const row of answered) {
    it(`XDP_TX: ${row.description}`, () => {
      const input = frame(row.input);
      const expected = frame(row.output);
      assertCase(reflect, {
        description: row.description,
        input,
        verdict: 'tx',
        output: expected,
        check: (output) => {
          assert.equal(output.length, input.length, 'same length');
          assertEndsSwapped(parsePacket(input), parsePacket(output), row.description);
          assertChecksums(output, row.checksums, row.description);
        },
      });
    });
  }

  it('XDP_PASS, packet unchanged: ARP', () => {
    assertCase(reflect, { description: 'ARP request', input: arpRequest(), verdict: 'pass' });
  });

  for (const row of passed) {
    it(`XDP_PASS, packet unchanged: ${row.description}`, () => {
      assertCase(reflect, { description: row.description, input: frame(row.layers), verdict: 'pass' });
    });
  }

  it('echo replies whose checksum comes out 0x0000, and requests carrying 0x0000', () => {
    for (const [v6, ipLayer, back, kind, request, reply] of [
      [false, ip4(), ip4Back(), 'icmp', 8, 0],
      [true, ip6(), ip6Back(), 'icmpv6', 128, 129],
    ] as const) {
      const echo = (type: number, seq: number, answer: boolean): LayerSpec[] => [
        answer ? ethBack() : eth(),
        answer ? back : ipLayer,
        v6 ? icmp6(type, { seq }) : icmp(type, { seq }),
        payload('edge'),
      ];
      // The checksum field: 4 payload bytes + 6 ICMP header bytes from the end.
      const checksumOf = (layers: LayerSpec[]): number => {
        const b = frame(layers);
        return b.readUInt16BE(b.length - 10);
      };
      // Raising seq by d lowers the checksum by d (one's complement): seq = checksum at seq 0 makes it 0.
      const replySeq = checksumOf(echo(reply, 0, true));
      const requestSeq = checksumOf(echo(request, 0, false));
      assert.equal(checksumOf(echo(reply, replySeq, true)), 0, `${kind}: crafted reply checksum`);
      assert.equal(checksumOf(echo(request, requestSeq, false)), 0, `${kind}: crafted request checksum`);
      for (const seq of [replySeq, requestSeq]) {
        const expected = frame(echo(reply, seq, true));
        assertCase(reflect, {
          description: `${kind} echo seq 0x${seq.toString(16)}`,
          input: frame(echo(request, seq, false)),
          verdict: 'tx',
          output: expected,
          check: (output) => assertChecksums(output, v6 ? ['icmpv6'] : ['ipv4', 'icmp'], kind),
        });
      }
    }
  });

  it('400 random echo requests (IPv4 and IPv6): every reply has valid checksums and the exact expected bytes', () => {
    const seed = testSeed(0xec40);
    const rng = new Prng(seed);
    for (let i = 0; i < 200; i++) {
      const data = payload(rng.bytes(rng.int(80)));
      const id = rng.int(0x10000);
      const seq = rng.int(0x10000);
      const src4 = `10.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`;
      const src6 = `2001:db8:${rng.int(0x10000).toString(16)}::${rng.int(0x10000).toString(16)}`;
      for (const v6 of [false, true]) {
        const from = v6 ? ip6({ src: src6 }) : ip4({ src: src4, id: rng.int(0x10000) });
        const to = v6 ? ip6({ src: IP6.server, dst: src6 }) : ip4({ src: IP4.server, dst: src4, id: from.type === 'ipv4' ? from.id! : 0 });
        const input = frame([eth(), from, v6 ? icmp6(128, { id, seq }) : icmp(8, { id, seq }), data]);
        const expected = frame([ethBack(), to, v6 ? icmp6(129, { id, seq }) : icmp(0, { id, seq }), data]);
        assertCase(reflect, {
          description: `random echo #${i} ${v6 ? 'v6' : 'v4'} (seed ${seed})`,
          input,
          verdict: 'tx',
          output: expected,
          check: (output) => assertChecksums(output, v6 ? ['icmpv6'] : ['ipv4', 'icmp'], `random echo #${i}`),
        });
      }
    }
  });

  it('200 random TCP and UDP flows: answered with ports and addresses swapped, checksums valid', () => {
    const seed = testSeed(0x7cb0);
    const rng = new Prng(seed);
    for (let i = 0; i < 200; i++) {
      const v6 = i % 2 === 1;
      const a = v6 ? `2001:db8::${rng.int(0x10000).toString(16)}` : `192.0.2.${rng.int(256)}`;
      const b = v6 ? `2001:db8:ff::${rng.int(0x10000).toString(16)}` : `198.51.100.${rng.int(256)}`;
      const sport = rng.int(0x10000);
      const dport = rng.int(0x10000);
      const l4 = (s: number, d: number): LayerSpec => (i % 4 < 2 ? udp(d, s) : tcp(d, s, { seq: i, flags: 'A' }));
      const data = payload(rng.bytes(rng.int(40)));
      const ip = (src: string, dst: string): LayerSpec => (v6 ? ip6({ src, dst }) : ip4({ src, dst }));
      assertCase(reflect, {
        description: `random flow #${i} (seed ${seed})`,
        input: frame([eth(), ip(a, b), l4(sport, dport), data]),
        verdict: 'tx',
        output: frame([ethBack(), ip(b, a), l4(dport, sport), data]),
        check: (output) => assertChecksums(output, [...(v6 ? [] : ['ipv4']), i % 4 < 2 ? 'udp' : 'tcp'], `random flow #${i}`),
      });
    }
  });

  it('every prefix of several packets: cut headers pass unchanged, whole headers are answered', () => {
    let runs = 0;
    for (const row of answered.filter((r) => r.cut)) {
      const full = frame(row.input);
      const answer = frame(row.output);
      const end = headersEnd(row.input);
      const got: string[] = [];
      const want: string[] = [];
      for (const cut of prefixes(full)) {
        const result = reflect.run(cut);
        // Every byte reflect rewrites is in the headers, so a cut answer is the answer, cut.
        const expected = cut.length < end ? cut : answer.subarray(0, cut.length);
        got.push(`${cut.length}:${result.verdict}:${result.data.equals(expected) ? 'bytes ok' : result.data.toString('hex')}`);
        want.push(`${cut.length}:${cut.length < end ? 'pass' : 'tx'}:bytes ok`);
        runs++;
      }
      assert.deepEqual(got, want, `${row.description}, headers end at ${end}`);
    }
    assert.ok(runs > 500, `${runs} truncated runs`);
  });

  it('xdp_stats equals the tally of every run above', () => {
    reflect.assertStats();
    assert.ok(reflect.tally.tx.packets > 700n && reflect.tally.pass.packets > 400n, JSON.stringify(reflect.tally, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    assert.deepEqual([reflect.tally.aborted.packets, reflect.tally.drop.packets, reflect.tally.redirect.packets], [0n, 0n, 0n]);
  });
});
