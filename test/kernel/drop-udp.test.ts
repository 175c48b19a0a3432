/**
 * drop_udp through BPF_PROG_TEST_RUN on the built object, in both modes: all UDP (match_ports
 * = 0, the default) and listed ports (match_ports = 1 + drop_ports, configured through the
 * control plane's builtinSetup). Tables of {description, packet, verdict per mode}; every run is
 * tallied and compared with xdp_stats.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { u32, u8 } from '../../src/bpf/index.js';
import { builtinSetup } from '../../src/programs/configure.js';
import { decideDropUdp } from '../helpers/drop-udp-reference.js';
import {
  arpRequest,
  authHeader,
  destOpts,
  eth,
  ETH_P_IP,
  ETH_P_IPV6,
  fragment6,
  frame,
  headersEnd,
  hopByHop,
  icmp,
  icmp6,
  ip4,
  ip6,
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
import { assertRefusesRunt, Harness, objectScope, prefixes, readStats, totals, type XdpActionName } from '../helpers/xdp.js';

/**
 * Ports the port-mode object lists in drop_ports (54 is written too, with value 0). Port 0 is
 * listed so that a later fragment, whose port the program holds as 0, would be dropped if the
 * program ever looked it up.
 */
const LISTED = [0, 53, 123, 65535];

interface Row {
  description: string;
  layers: LayerSpec[];
  /** Verdict with match_ports = 0 (all UDP) and with match_ports = 1 (LISTED ports). */
  all: XdpActionName;
  ports: XdpActionName;
}

const row = (description: string, layers: LayerSpec[], all: XdpActionName, ports: XdpActionName): Row => ({ description, layers, all, ports });
const q = 'query';

const basics: Row[] = [
  row('UDP/IPv4 to 53', [eth(), ip4(), udp(53), payload(q)], 'drop', 'drop'),
  row('UDP/IPv4 to 54 (in drop_ports with value 0)', [eth(), ip4(), udp(54), payload(q)], 'drop', 'pass'),
  row('UDP/IPv4 to 123', [eth(), ip4(), udp(123), payload(q)], 'drop', 'drop'),
  row('UDP/IPv4 to 65535 (last key of drop_ports)', [eth(), ip4(), udp(65535), payload(q)], 'drop', 'drop'),
  row('UDP/IPv4 to 0 (listed)', [eth(), ip4(), udp(0), payload(q)], 'drop', 'drop'),
  row('UDP/IPv4 to 1', [eth(), ip4(), udp(1), payload(q)], 'drop', 'pass'),
  row('UDP/IPv4 from 53 to 40000 (source port never matched)', [eth(), ip4(), udp(40000, 53), payload(q)], 'drop', 'pass'),
  row('UDP/IPv4 header only, no payload', [eth(), ip4(), udp(53)], 'drop', 'drop'),
  row('UDP/IPv4 with Ethernet padding', [eth(), ip4(), udp(53), { type: 'trailer', data: Buffer.alloc(18) }], 'drop', 'drop'),
  row('UDP/IPv6 to 53', [eth(), ip6(), udp(53), payload(q)], 'drop', 'drop'),
  row('UDP/IPv6 to 54', [eth(), ip6(), udp(54), payload(q)], 'drop', 'pass'),
  row('TCP/IPv4 to 53', [eth(), ip4(), tcp(53)], 'pass', 'pass'),
  row('TCP/IPv6 to 53', [eth(), ip6(), tcp(53)], 'pass', 'pass'),
  row('TCP/IPv4 with options to 53', [eth(), ip4(), tcp(53, 40000, { options: Buffer.from([2, 4, 5, 0xb4, 1, 1, 4, 2]) })], 'pass', 'pass'),
  row('ICMP echo request', [eth(), ip4(), icmp(8), payload('ping')], 'pass', 'pass'),
  row('ICMP port unreachable quoting a UDP packet', [eth(), ip4(), icmp(3, { code: 3 }), payload(frame([eth(), ip4(), udp(53)]).subarray(14))], 'pass', 'pass'),
  row('ICMPv6 echo request', [eth(), ip6(), icmp6(128), payload('ping')], 'pass', 'pass'),
  row('ICMPv6 neighbour solicitation', [eth({ dst: '33:33:ff:00:00:02' }), ip6({ dst: 'ff02::1:ff00:2', hopLimit: 255 }), icmp6(135), payload(Buffer.alloc(16))], 'pass', 'pass'),
  row('GRE/IPv4', [eth(), ip4({ protocol: PROTO.GRE }), payload(Buffer.alloc(8))], 'pass', 'pass'),
  row('ESP/IPv6', [eth(), ip6({ nextHeader: PROTO.ESP }), payload(Buffer.alloc(16))], 'pass', 'pass'),
  row('IPv6 with No Next Header', [eth(), ip6()], 'pass', 'pass'),
  row('ICMP protocol number inside IPv6 (not ICMPv6)', [eth(), ip6({ nextHeader: PROTO.ICMP }), payload(Buffer.alloc(8))], 'pass', 'pass'),
  row('802.3 frame (length 64 in the EtherType field)', [eth({ etherType: 0x0040 }), payload(Buffer.alloc(64))], 'pass', 'pass'),
  row('unknown EtherType 0x88b5', [eth({ etherType: 0x88b5 }), payload(frame([eth(), ip4(), udp(53)]).subarray(14))], 'pass', 'pass'),
  row('IPv4 EtherType carrying version 6', [eth({ etherType: ETH_P_IP }), ip6(), udp(53)], 'pass', 'pass'),
  row('IPv6 EtherType carrying version 4', [eth({ etherType: ETH_P_IPV6 }), ip4(), udp(53), payload(Buffer.alloc(32))], 'pass', 'pass'),
  row('IPv4 IHL 4 (invalid)', [eth(), ip4({ ihl: 4 }), udp(53), payload(q)], 'pass', 'pass'),
  row('IPv4 IHL 0 (invalid)', [eth(), ip4({ ihl: 0 }), udp(53), payload(q)], 'pass', 'pass'),
  row('IPv4 IHL 15 with the packet ending first', [eth(), ip4({ ihl: 15 }), udp(53), payload('x')], 'pass', 'pass'),
];

const vlans: Row[] = [
  row('802.1Q, UDP/IPv4 to 53', [eth(), vlan(10), ip4(), udp(53), payload(q)], 'drop', 'drop'),
  row('802.1Q, UDP/IPv4 to 54', [eth(), vlan(10), ip4(), udp(54), payload(q)], 'drop', 'pass'),
  row('802.1Q priority 7 VID 4095, UDP/IPv6 to 123', [eth(), vlan(4095, TPID_8021Q, { pcp: 7, dei: true }), ip6(), udp(123)], 'drop', 'drop'),
  row('802.1Q, TCP/IPv4 to 53', [eth(), vlan(10), ip4(), tcp(53)], 'pass', 'pass'),
  row('802.1Q, ARP', [eth({ dst: 'ff:ff:ff:ff:ff:ff' }), vlan(10, TPID_8021Q, { etherType: 0x0806 }), payload(arpRequest().subarray(14))], 'pass', 'pass'),
  row('QinQ 802.1ad + 802.1Q, UDP/IPv4 to 53', [eth(), ...qinq(), ip4(), udp(53), payload(q)], 'drop', 'drop'),
  row('QinQ 802.1ad + 802.1Q, UDP/IPv6 to 53', [eth(), ...qinq(), ip6(), udp(53), payload(q)], 'drop', 'drop'),
  row('QinQ 802.1ad + 802.1Q, UDP/IPv6 to 54', [eth(), ...qinq(), ip6(), udp(54), payload(q)], 'drop', 'pass'),
  row('two 802.1Q tags, UDP/IPv4 to 53', [eth(), vlan(1), vlan(2), ip4(), udp(53)], 'drop', 'drop'),
  row('802.1ad inner tag under 802.1Q, UDP/IPv4 to 53', [eth(), vlan(1), vlan(2, TPID_8021AD), ip4(), udp(53)], 'drop', 'drop'),
  row('QinQ, ICMPv6 echo', [eth(), ...qinq(), ip6(), icmp6(128)], 'pass', 'pass'),
  row('three tags (over the parser limit of 2), UDP/IPv4 to 53', [eth(), vlan(1, TPID_8021AD), vlan(2), vlan(3), ip4(), udp(53)], 'pass', 'pass'),
  row('three tags, TCP', [eth(), vlan(1, TPID_8021AD), vlan(2), vlan(3), ip4(), tcp(53)], 'pass', 'pass'),
];

const ipv4Options: Row[] = [
  row('IPv4 options, IHL 6, UDP to 53', [eth(), ip4({ options: Buffer.from([1, 1, 1, 0]) }), udp(53), payload(q)], 'drop', 'drop'),
  row('IPv4 options, IHL 6, UDP to 54 (port read after the options)', [eth(), ip4({ options: Buffer.from([1, 1, 1, 0]) }), udp(54), payload(q)], 'drop', 'pass'),
  row('IPv4 options, IHL 15 (40 bytes: record route), UDP to 53', [eth(), ip4({ options: Buffer.concat([Buffer.from([7, 39, 4]), Buffer.alloc(37)]) }), udp(53)], 'drop', 'drop'),
  row('IPv4 options, IHL 15, UDP to 54', [eth(), ip4({ options: Buffer.alloc(40, 1) }), udp(54)], 'drop', 'pass'),
  row('IPv4 options with the port-53 bytes where IHL 5 would put the UDP header', [eth(), ip4({ options: Buffer.from([0x9c, 0x40, 0, 53]) }), udp(54)], 'drop', 'pass'),
  row('IPv4 options over 802.1Q, UDP to 123', [eth(), vlan(7), ip4({ options: Buffer.alloc(8, 1) }), udp(123)], 'drop', 'drop'),
];

const fragments: Row[] = [
  row('IPv4 first fragment (MF, offset 0), UDP to 53', [eth(), ip4({ mf: true }), udp(53, 40000, { udpLength: 3000 }), payload(Buffer.alloc(64))], 'drop', 'drop'),
  row('IPv4 first fragment, UDP to 54', [eth(), ip4({ mf: true }), udp(54, 40000, { udpLength: 3000 }), payload(Buffer.alloc(64))], 'drop', 'pass'),
  row('IPv4 later fragment (offset 1480, MF) starting with port-53 bytes', [eth(), ip4({ mf: true, fragmentOffset: 1480, protocol: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv4 last fragment (offset 1480, no MF) starting with port-53 bytes', [eth(), ip4({ fragmentOffset: 1480, protocol: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv4 later fragment at offset 8', [eth(), ip4({ mf: true, fragmentOffset: 8, protocol: PROTO.UDP }), udpLookalike(123)], 'drop', 'pass'),
  row('IPv4 later fragment with only 1 byte of data', [eth(), ip4({ fragmentOffset: 64, protocol: PROTO.UDP }), payload('x')], 'drop', 'pass'),
  row('IPv4 later fragment with no data at all', [eth(), ip4({ fragmentOffset: 64, protocol: PROTO.UDP })], 'drop', 'pass'),
  row('IPv4 later fragment of TCP', [eth(), ip4({ fragmentOffset: 1480, protocol: PROTO.TCP }), udpLookalike(53)], 'pass', 'pass'),
  row('IPv4 DF, UDP to 53 (not a fragment)', [eth(), ip4({ df: true }), udp(53)], 'drop', 'drop'),
  row('IPv4 DF, UDP to 54', [eth(), ip4({ df: true }), udp(54)], 'drop', 'pass'),
  row('IPv4 reserved flag, UDP to 53 (not a fragment)', [eth(), ip4({ reservedFlag: true }), udp(53)], 'drop', 'drop'),
  row('IPv6 first fragment (offset 0, M), UDP to 53', [eth(), ip6(), fragment6(0, true), udp(53, 40000, { udpLength: 3000 }), payload(Buffer.alloc(64))], 'drop', 'drop'),
  row('IPv6 first fragment, UDP to 54', [eth(), ip6(), fragment6(0, true), udp(54, 40000, { udpLength: 3000 }), payload(Buffer.alloc(64))], 'drop', 'pass'),
  row('IPv6 atomic fragment (offset 0, no M), UDP to 53', [eth(), ip6(), fragment6(0, false), udp(53), payload(q)], 'drop', 'drop'),
  row('IPv6 atomic fragment, UDP to 54', [eth(), ip6(), fragment6(0, false), udp(54), payload(q)], 'drop', 'pass'),
  row('IPv6 later fragment (offset 1448, M) starting with port-53 bytes', [eth(), ip6(), fragment6(1448, true, { nextHeader: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv6 last fragment (offset 1448, no M) starting with port-53 bytes', [eth(), ip6(), fragment6(1448, false, { nextHeader: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv6 later fragment after hop-by-hop', [eth(), ip6(), hopByHop(), fragment6(8, true, { nextHeader: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv6 later fragment with no data', [eth(), ip6(), fragment6(8, false, { nextHeader: PROTO.UDP })], 'drop', 'pass'),
  row('IPv6 later fragment of TCP', [eth(), ip6(), fragment6(8, true, { nextHeader: PROTO.TCP }), udpLookalike(53)], 'pass', 'pass'),
  row('IPv6 later fragment whose data looks like more extension headers', [eth(), ip6(), fragment6(8, true, { nextHeader: PROTO.UDP }), payload(Buffer.from([0, 200, 0, 0, 0, 0, 0, 0]))], 'drop', 'pass'),
  row('IPv6 first fragment after hop-by-hop + dest opts + routing, UDP to 53', [eth(), ip6(), hopByHop(), destOpts(), routing(), fragment6(0, true), udp(53)], 'drop', 'drop'),
];

const ipv6Ext: Row[] = [
  row('IPv6 hop-by-hop, UDP to 53', [eth(), ip6(), hopByHop(), udp(53), payload(q)], 'drop', 'drop'),
  row('IPv6 hop-by-hop (router alert), UDP to 54', [eth(), ip6(), hopByHop({ options: Buffer.from([5, 2, 0, 0]) }), udp(54)], 'drop', 'pass'),
  row('IPv6 hop-by-hop + dest opts, UDP to 53', [eth(), ip6(), hopByHop(), destOpts(), udp(53), payload(q)], 'drop', 'drop'),
  row('IPv6 hop-by-hop + dest opts, UDP to 54 (port read after the headers)', [eth(), ip6(), hopByHop(), destOpts(), udp(54), payload(q)], 'drop', 'pass'),
  row('IPv6 routing (segments left 1), UDP to 123', [eth(), ip6(), routing({ routingType: 4, segmentsLeft: 1, data: Buffer.alloc(20) }), udp(123)], 'drop', 'drop'),
  row('IPv6 routing + AH, UDP to 53', [eth(), ip6(), routing({ nextHeader: PROTO.AH }), authHeader(PROTO.UDP, 4), udp(53)], 'drop', 'drop'),
  row('IPv6 AH (12 bytes), UDP to 54', [eth(), ip6({ nextHeader: PROTO.AH }), authHeader(PROTO.UDP, 1), udp(54)], 'drop', 'pass'),
  row('IPv6 dest opts with 48 bytes of options, UDP to 53', [eth(), ip6(), destOpts({ options: Buffer.concat([Buffer.from([0x1e, 44]), Buffer.alloc(44)]) }), udp(53)], 'drop', 'drop'),
  row('IPv6 dest opts of the largest size (hdrlen 255: 2048 bytes), UDP to 53', [eth(), ip6(), destOpts({ options: Buffer.alloc(2046) }), udp(53)], 'drop', 'drop'),
  row('IPv6 AH of the largest size (1028 bytes) + hop-by-hop, UDP to 54', [eth(), ip6({ nextHeader: PROTO.AH }), authHeader(PROTO.HOP, 255), hopByHop(), udp(54)], 'drop', 'pass'),
  row('IPv6 dest opts, TCP to 53', [eth(), ip6(), destOpts(), tcp(53)], 'pass', 'pass'),
  row('IPv6 hop-by-hop, ICMPv6', [eth(), ip6(), hopByHop(), icmp6(128)], 'pass', 'pass'),
  row('IPv6 six extension headers (the limit), UDP to 53', [eth(), ip6(), hopByHop(), destOpts(), routing(), destOpts(), destOpts(), destOpts(), udp(53)], 'drop', 'drop'),
  row('IPv6 six extension headers, UDP to 54', [eth(), ip6(), hopByHop(), destOpts(), routing(), destOpts(), destOpts(), destOpts(), udp(54)], 'drop', 'pass'),
  row('IPv6 six headers ending in a fragment header, UDP to 53', [eth(), ip6(), hopByHop(), destOpts(), routing(), destOpts(), destOpts(), fragment6(0, true), udp(53)], 'drop', 'drop'),
  row('IPv6 seven extension headers (over the limit), UDP to 53', [eth(), ip6(), hopByHop(), destOpts(), routing(), destOpts(), destOpts(), destOpts(), destOpts(), udp(53)], 'pass', 'pass'),
  row('IPv6 extension header claiming more bytes than the packet has', [eth(), ip6({ nextHeader: PROTO.DEST }), payload(Buffer.from([PROTO.UDP, 3, 0, 0, 0, 0, 0, 0, 0, 0]))], 'pass', 'pass'),
  row('IPv6 dest opts then ESP', [eth(), ip6(), destOpts({ nextHeader: PROTO.ESP }), payload(Buffer.alloc(16))], 'pass', 'pass'),
];

function table(harness: Harness, rows: Row[], mode: 'all' | 'ports'): void {
  for (const r of rows) {
    const input = frame(r.layers);
    const result = harness.run(input);
    assert.equal(result.verdict, r[mode], `${r.description} (${mode}): verdict`);
    assert.ok(result.data.equals(input), `${r.description} (${mode}): the packet is not modified`);
  }
}

/** Packets cut at every length: headers cut short pass, whole headers give the full verdict. */
const truncated: Row[] = [
  row('UDP/IPv4 to 53', [eth(), ip4(), udp(53), payload(q)], 'drop', 'drop'),
  row('UDP/IPv4 to 54', [eth(), ip4(), udp(54), payload(q)], 'drop', 'pass'),
  row('QinQ, IPv4 options, UDP to 53', [eth(), ...qinq(), ip4({ options: Buffer.alloc(8, 1) }), udp(53), payload(q)], 'drop', 'drop'),
  row('IPv6 hop-by-hop + first fragment, UDP to 53', [eth(), ip6(), hopByHop(), fragment6(0, true), udp(53, 40000, { udpLength: 3000 }), payload(q)], 'drop', 'drop'),
  row('IPv6 routing + AH + dest opts (48 bytes), UDP to 123', [eth(), ip6(), routing({ nextHeader: PROTO.AH }), authHeader(PROTO.DEST, 2), destOpts({ options: Buffer.alloc(44, 0) }), udp(123), payload(q)], 'drop', 'drop'),
  row('802.1Q, IPv6 later fragment', [eth(), vlan(3), ip6(), fragment6(64, true, { nextHeader: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('IPv4 later fragment', [eth(), ip4({ fragmentOffset: 64, protocol: PROTO.UDP }), udpLookalike(53)], 'drop', 'pass'),
  row('TCP/IPv6 with options', [eth(), ip6(), tcp(53, 40000, { options: Buffer.alloc(12, 1) }), payload(q)], 'pass', 'pass'),
];

describe('drop_udp', () => {
  const scope = objectScope();
  const all = new Harness(scope.load(builtinObject('drop_udp')), 'xdp_drop_udp');
  const setup = builtinSetup('drop_udp', { ports: LISTED });
  const ports = new Harness(
    scope.load(builtinObject('drop_udp'), {
      constants: setup.constants,
      configure: (object) => {
        setup.configure(object);
        object.map('drop_ports').withCodecs(u32, u8).set(54, 0);
      },
    }),
    'xdp_drop_udp',
  );

  it('reads match_ports from .rodata: 0 by default, 1 as builtinSetup sets it', () => {
    assert.deepEqual(all.object.constants().match_ports, Buffer.from([0]));
    assert.deepEqual(ports.object.constants().match_ports, Buffer.from([1]));
    const map = ports.object.map('drop_ports').withCodecs(u32, u8);
    assert.deepEqual([53, 54, 123, 65535, 0, 1].map((p) => map.get(p)), [1, 0, 1, 1, 1, 0]);
  });

  it('counts a known run exactly: packets and bytes per action, summed over CPUs', () => {
    all.resetStats();
    const udp53 = frame([eth(), ip4(), udp(53), payload(q)]);
    const udp6 = frame([eth(), ip6(), udp(9), payload('abc')]);
    const tcp4 = frame([eth(), ip4(), tcp(80)]);
    all.run(udp53);
    all.run(udp53);
    all.run(udp6);
    all.run(tcp4, 1000);
    assert.deepEqual(
      { udp53: udp53.length, udp6: udp6.length, tcp4: tcp4.length },
      { udp53: 47, udp6: 65, tcp4: 54 },
      'packet sizes the expected counters assume',
    );
    assert.deepEqual(readStats(all.object), totals({ drop: [3, 47 + 47 + 65], pass: [1000, 54 * 1000] }));
  });

  for (const [name, rows] of Object.entries({ basics, vlans, 'IPv4 options': ipv4Options, fragments, 'IPv6 extension headers': ipv6Ext })) {
    it(`${name}: all-UDP mode`, () => table(all, rows, 'all'));
    it(`${name}: listed-ports mode`, () => table(ports, rows, 'ports'));
  }

  it('port mode follows drop_ports as it changes, without reloading', () => {
    const map = ports.object.map('drop_ports').withCodecs(u32, u8);
    const to = (port: number): Buffer => frame([eth(), ip4(), udp(port), payload(q)]);
    assert.equal(ports.run(to(5353)).verdict, 'pass');
    map.set(5353, 1);
    assert.equal(ports.run(to(5353)).verdict, 'drop');
    map.set(5353, 0xff);
    assert.equal(ports.run(to(5353)).verdict, 'drop', 'any nonzero value drops');
    map.set(5353, 0);
    assert.equal(ports.run(to(5353)).verdict, 'pass');
  });

  it('every prefix of several packets: no error, cut headers pass, whole headers decide', () => {
    let runs = 0;
    for (const r of truncated) {
      const full = frame(r.layers);
      const end = headersEnd(r.layers);
      for (const [mode, harness] of [['all', all], ['ports', ports]] as const) {
        const got: string[] = [];
        const want: string[] = [];
        for (const cut of prefixes(full)) {
          const result = harness.run(cut);
          assert.ok(result.data.equals(cut), `${r.description} cut to ${cut.length}: unmodified`);
          got.push(`${cut.length}:${result.verdict}`);
          want.push(`${cut.length}:${cut.length < end ? 'pass' : r[mode]}`);
          runs++;
        }
        assert.deepEqual(got, want, `${r.description} (${mode}), headers end at ${end}`);
      }
    }
    assert.ok(runs > 1000, `${runs} truncated runs`);
  });

  it('refuses packets shorter than an Ethernet header before the program runs', () => {
    assertRefusesRunt(all);
  });

  it('agrees with the TypeScript reference on every table row', () => {
    for (const r of [...basics, ...vlans, ...ipv4Options, ...fragments, ...ipv6Ext, ...truncated]) {
      const input = frame(r.layers);
      assert.equal(decideDropUdp(input, { matchPorts: false, ports: new Set() }).verdict, r.all, `reference, ${r.description} (all)`);
      assert.equal(decideDropUdp(input, { matchPorts: true, ports: new Set(LISTED) }).verdict, r.ports, `reference, ${r.description} (ports)`);
    }
  });

  it('xdp_stats equals the tally of every run above, in both objects', () => {
    all.assertStats();
    ports.assertStats();
    assert.ok(all.tally.drop.packets > 50n && all.tally.pass.packets > 1000n, 'both verdicts exercised');
    assert.deepEqual([all.tally.aborted.packets, all.tally.tx.packets, all.tally.redirect.packets], [0n, 0n, 0n]);
  });
});
