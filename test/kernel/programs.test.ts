/**
 * Every built-in as the catalogue describes it (object, program, maps, defaults) with exact
 * xdp_stats after known runs, the pass program, and the seed fixtures: objects users already
 * have, with legacy section names, loaded unmodified and behaving as their source says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { possibleCpuCount, u32 } from '../../src/bpf/index.js';
import { BUILTIN_NAMES, builtinProgram } from '../../src/programs/catalogue.js';
import { arpRequest, eth, frame, ip4, ip6, payload, qinq, tcp, udp, vlan } from '../helpers/frames.js';
import { fixture } from '../helpers/paths.js';
import { Harness, objectScope, prefixes, readStats, statsMap, totals, zeroTotals, type XdpActionName } from '../helpers/xdp.js';

const BPF_PROG_TYPE_XDP = 6;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;

const udp4 = (port: number): Buffer => frame([eth(), ip4(), udp(port), payload('query')]);
const udp6 = frame([eth(), ip6(), udp(53), payload('query')]);
const tcp4 = frame([eth(), ip4(), tcp(53)]);
const arp = arpRequest();
const vlanUdp = frame([eth(), vlan(10), ip4(), udp(53)]);

/** The verdict each built-in gives with its defaults (nothing configured). */
const DEFAULT_VERDICT: Record<(typeof BUILTIN_NAMES)[number], { udp: XdpActionName; arp: XdpActionName }> = {
  pass: { udp: 'pass', arp: 'pass' },
  drop_udp: { udp: 'drop', arp: 'pass' },
  redirect: { udp: 'pass', arp: 'pass' }, // empty slot 0, fallback_action 2
  cpumap: { udp: 'pass', arp: 'pass' }, // nr_cpus 0
  reflect: { udp: 'tx', arp: 'pass' },
};

describe('built-ins as the catalogue describes them', () => {
  const scope = objectScope();

  for (const name of BUILTIN_NAMES) {
    it(`${name}: loads from the catalogue's object with its defaults and counts known runs exactly`, () => {
      const spec = builtinProgram(name);
      const object = scope.load(spec.object);
      const program = object.program(spec.program);
      assert.equal(program.section, spec.section);
      assert.equal(program.type, BPF_PROG_TYPE_XDP);
      assert.deepEqual(object.userMapNames().sort(), Object.keys(spec.maps).sort(), 'maps');
      for (const option of spec.options) {
        const value = object.constants()[option.name];
        assert.ok(value, `constant ${option.name} exists`);
        assert.equal(value.length, option.type === 'u8' ? 1 : 4, `${option.name} size`);
        assert.equal(option.type === 'u8' ? value.readUInt8(0) : value.readUInt32LE(0), option.default, `${option.name} default`);
      }
      const stats = statsMap(object);
      assert.equal(stats.description.type, BPF_MAP_TYPE_PERCPU_ARRAY);
      assert.equal(stats.description.maxEntries, 5);
      assert.deepEqual(readStats(object), zeroTotals(), 'xdp_stats starts at zero');
      assert.equal(stats.getPerCpu(0)?.length, possibleCpuCount());

      const h = new Harness(object, spec.program);
      const packet = udp4(53);
      const want = DEFAULT_VERDICT[name];
      assert.equal(h.run(packet, 7).verdict, want.udp, 'UDP');
      assert.equal(h.run(arp, 3).verdict, want.arp, 'ARP');
      assert.equal(h.run(arp).verdict, want.arp, 'ARP');
      const expected = want.udp === want.arp ? totals({ [want.udp]: [11, 7 * 47 + 4 * 42] }) : totals({ [want.udp]: [7, 7 * 47], [want.arp]: [4, 4 * 42] });
      assert.deepEqual(readStats(object), expected);

      statsMap(object).clear();
      assert.deepEqual(readStats(object), zeroTotals(), 'cleared');
    });
  }

  it('pass: every packet passes unmodified and is counted, from 14 bytes to 1514', () => {
    const h = new Harness(scope.load(builtinProgram('pass').object), 'xdp_pass');
    const packets = [udp4(53), udp6, tcp4, arp, vlanUdp, frame([eth(), ...qinq(), ip6(), udp(1)]), Buffer.alloc(14), Buffer.alloc(1514, 0xff)];
    for (const p of packets) {
      const r = h.run(p);
      assert.equal(r.verdict, 'pass');
      assert.ok(r.data.equals(p));
    }
    for (const cut of prefixes(tcp4)) assert.equal(h.run(cut).verdict, 'pass');
    const bytes = packets.reduce((sum, p) => sum + p.length, 0) + ((14 + 54) * 41) / 2;
    assert.deepEqual(readStats(h.object), totals({ pass: [packets.length + 41, bytes] }));
  });
});

describe('seed fixtures (legacy section names, loaded unmodified)', () => {
  const scope = objectScope();
  const seed = (name: string): Harness => {
    const object = scope.load(fixture('seed', name));
    return new Harness(object, object.soleProgram().name);
  };
  const verdicts = (h: Harness, packets: Buffer[]): string[] => packets.map((p) => h.run(p).verdict);

  it('xdp_pass: SEC("xdp_pass") loads as XDP and passes', () => {
    const h = seed('xdp_pass');
    assert.equal(h.program.section, 'xdp_pass');
    assert.equal(h.program.name, 'xdp_pass_func');
    assert.equal(h.program.type, BPF_PROG_TYPE_XDP);
    assert.deepEqual(verdicts(h, [udp4(53), arp, Buffer.alloc(14)]), ['pass', 'pass', 'pass']);
  });

  it('xdp_drop_udp: drops UDP over IPv4 (any port), passes everything it does not parse', () => {
    const h = seed('xdp_drop_udp');
    assert.equal(h.program.section, 'xdp_drop_udp');
    assert.equal(h.program.name, 'xdp_drop_udp_func');
    assert.equal(h.program.type, BPF_PROG_TYPE_XDP);
    assert.deepEqual(
      verdicts(h, [udp4(53), udp4(54), frame([eth(), ip4({ options: Buffer.alloc(8, 1) }), udp(9)]), tcp4, arp, udp6, vlanUdp]),
      ['drop', 'drop', 'drop', 'pass', 'pass', 'pass', 'pass'],
      'UDP/IPv4 ×3 dropped; TCP, ARP, IPv6 and VLAN-tagged UDP are outside what the seed parses',
    );
    // It needs the Ethernet and the fixed IPv4 header, nothing more.
    for (const cut of prefixes(udp4(53))) assert.equal(h.run(cut).verdict, cut.length < 34 ? 'pass' : 'drop', `${cut.length} bytes`);
  });

  it('xdp_drop_udp_53 (built with -DMATCH_PORT_53): only UDP to port 53', () => {
    const h = seed('xdp_drop_udp_53');
    assert.equal(h.program.section, 'xdp_drop_udp');
    assert.deepEqual(
      verdicts(h, [udp4(53), udp4(54), frame([eth(), ip4(), udp(40000, 53)]), frame([eth(), ip4({ options: Buffer.alloc(8, 1) }), udp(53)]), tcp4, udp6]),
      ['drop', 'pass', 'pass', 'drop', 'pass', 'pass'],
      'to 53 dropped (also after IP options); to 54, from 53, TCP and IPv6 pass',
    );
    for (const cut of prefixes(udp4(53))) assert.equal(h.run(cut).verdict, cut.length < 42 ? 'pass' : 'drop', `${cut.length} bytes`);
  });

  it('xdp_redirect: empty xdp_devmap → its fallback 0 (XDP_ABORTED); lo in slot 0 → XDP_REDIRECT', () => {
    const h = seed('xdp_redirect');
    assert.equal(h.program.section, 'xdp_redirect');
    assert.equal(h.program.type, BPF_PROG_TYPE_XDP);
    assert.deepEqual(verdicts(h, [udp4(53), arp]), ['aborted', 'aborted']);
    const devmap = h.object.map('xdp_devmap').withCodecs(u32, u32);
    assert.equal(devmap.description.maxEntries, 8);
    devmap.set(0, 1);
    assert.deepEqual(verdicts(h, [udp4(53), arp]), ['redirect', 'redirect']);
    devmap.delete(0);
    assert.deepEqual(verdicts(h, [udp4(53)]), ['aborted']);
  });
});
