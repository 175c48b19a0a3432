/**
 * redirect and cpumap through BPF_PROG_TEST_RUN. State is set up as the control plane does it
 * (builtinSetup: --fallback, --target, --cpus) and, for values the CLI refuses, through raw
 * constants and map writes. A test run reports XDP_REDIRECT without sending anything, which is
 * what these tests assert: the verdict, and that xdp_stats counts it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { possibleCpuCount, struct, u32, XdpAction, type BpfObject, type XdpActionName } from '../../src/bpf/index.js';
import { builtinSetup, setRedirectTarget } from '../../src/programs/configure.js';
import { flowHash, type FlowKey } from '../helpers/flow-hash.js';
import { arpRequest, eth, fragment6, frame, icmp, ip4, ip6, payload, PROTO, tcp, udp, udpLookalike, vlan } from '../helpers/frames.js';
import { builtinObject } from '../helpers/paths.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { Harness, objectScope, prefixes, readStats, totals } from '../helpers/xdp.js';

const LO = 1;
/** Endpoints of the fragment and ICMP steering checks. */
const IP4_A = '203.0.113.7';
const IP4_B = '198.51.100.9';
const IP6_A = '2001:db8:aa::7';
const IP6_B = '2001:db8:bb::9';
const udp4 = frame([eth(), ip4(), udp(53), payload('query')]); // 47 bytes
const tcp6 = frame([eth(), ip6(), tcp(443)]); // 74 bytes
const arp = arpRequest(); // 42 bytes
const samples = [udp4, tcp6, arp];
const sampleBytes = udp4.length + tcp6.length + arp.length;

/** Runs the three sample packets; each must come back unmodified with `verdict`. */
function runSamples(h: Harness, verdict: XdpActionName, what: string): void {
  for (const packet of samples) {
    const result = h.run(packet);
    assert.equal(result.verdict, verdict, `${what}: verdict for a ${packet.length}-byte packet`);
    assert.ok(result.data.equals(packet), `${what}: packet unmodified`);
  }
}

describe('redirect', () => {
  const scope = objectScope();
  const redirect = (spec: Parameters<typeof scope.load>[1] = {}): Harness => new Harness(scope.load(builtinObject('redirect'), spec), 'xdp_redirect');

  it('sample sizes the counters below assume', () => {
    assert.deepEqual([udp4.length, tcp6.length, arp.length], [47, 74, 42]);
  });

  it('empty slot 0, default fallback_action: XDP_PASS, counted as pass', () => {
    const h = redirect();
    assert.deepEqual(h.object.constants().fallback_action, Buffer.from([2, 0, 0, 0]));
    runSamples(h, 'pass', 'default fallback');
    assert.deepEqual(readStats(h.object), totals({ pass: [3, sampleBytes] }));
  });

  for (const fallback of ['aborted', 'drop', 'pass', 'tx'] as const) {
    it(`empty slot 0, --fallback ${fallback}: the verdict is ${fallback} and counted as such`, () => {
      const h = redirect(builtinSetup('redirect', { fallback }));
      assert.equal(h.object.constants().fallback_action?.readUInt32LE(0), XdpAction[fallback]);
      runSamples(h, fallback, `fallback ${fallback}`);
      assert.deepEqual(readStats(h.object), totals({ [fallback]: [3, sampleBytes] }));
    });
  }

  // 8 is BPF_F_BROADCAST, 16 BPF_F_EXCLUDE_INGRESS: passed on as flags they would change what
  // bpf_redirect_map does (8 redirects to every device in the map, none here).
  for (const raw of [4, 5, 8, 10, 16, 99, 0xffffffff]) {
    it(`empty slot 0, fallback_action ${raw} (not a fallback verdict): XDP_ABORTED`, () => {
      const h = redirect({ constants: { fallback_action: raw } });
      runSamples(h, 'aborted', `fallback_action ${raw}`);
      assert.deepEqual(readStats(h.object), totals({ aborted: [3, sampleBytes] }));
    });
  }

  it('--target lo (ifindex 1) through the control plane: XDP_REDIRECT', () => {
    const setup = builtinSetup('redirect', { target: 'lo', fallback: 'drop' });
    const h = redirect(setup);
    assert.equal(h.object.map('redirect_map').withCodecs(u32, u32).get(0), LO);
    runSamples(h, 'redirect', 'slot 0 = lo');
    assert.deepEqual(readStats(h.object), totals({ redirect: [3, sampleBytes] }));
  });

  it('slot 0 written, deleted and rewritten at run time: redirect, fallback, redirect', () => {
    const h = redirect(builtinSetup('redirect', { fallback: 'drop' }));
    const map = h.object.map('redirect_map').withCodecs(u32, u32);
    map.set(1, LO);
    assert.equal(h.run(udp4).verdict, 'drop', 'only slot 0 is used: slot 1 does not count');
    assert.equal(setRedirectTarget(h.object.map('redirect_map'), 0, '1'), LO);
    assert.equal(h.run(udp4).verdict, 'redirect');
    assert.equal(map.delete(0), true);
    assert.equal(h.run(udp4).verdict, 'drop');
    map.set(0, LO);
    assert.equal(h.run(tcp6).verdict, 'redirect');
    assert.deepEqual(readStats(h.object), totals({ drop: [2, 2 * udp4.length], redirect: [2, udp4.length + tcp6.length] }));
    h.assertStats();
  });

  it('the DEVMAP refuses an ifindex with no device, and the slot stays empty', () => {
    const h = redirect(builtinSetup('redirect', { fallback: 'tx' }));
    const map = h.object.map('redirect_map').withCodecs(u32, u32);
    assert.throws(() => map.set(0, 0x7ffffff0));
    assert.equal(map.get(0), undefined);
    assert.equal(h.run(udp4).verdict, 'tx');
  });

  it('every prefix of a packet gets the same verdict: redirect never reads the packet', () => {
    const h = redirect(builtinSetup('redirect', { target: 'lo' }));
    for (const cut of prefixes(tcp6)) assert.equal(h.run(cut).verdict, 'redirect', `${cut.length} bytes`);
    h.assertStats();
  });
});

describe('cpumap', () => {
  const scope = objectScope();
  const cpus = possibleCpuCount();
  const qsize = struct({ qsize: u32, prog_id: u32 });
  const cpumap = (spec: Parameters<typeof scope.load>[1] = {}): Harness => new Harness(scope.load(builtinObject('cpumap'), spec), 'xdp_cpumap');
  const queue = (object: BpfObject, cpu: number): void => object.map('cpu_map').withCodecs(u32, qsize).set(cpu, { qsize: 256, prog_id: 0 });

  it('nr_cpus = 0 (the default): every packet passes, even with CPU queues set up', () => {
    const h = cpumap({
      configure: (o) => {
        queue(o, 0);
        o.map('cpus_available').withCodecs(u32, u32).set(0, 0);
      },
    });
    assert.deepEqual(h.object.constants().nr_cpus, Buffer.from([0, 0, 0, 0]));
    runSamples(h, 'pass', 'nr_cpus 0');
    assert.deepEqual(readStats(h.object), totals({ pass: [3, sampleBytes] }));
  });

  it('--cpus through the control plane (every CPU has a queue): XDP_REDIRECT', () => {
    const list = Array.from({ length: cpus }, (_, i) => i);
    const h = cpumap(builtinSetup('cpumap', { cpus: list, qsize: 512 }));
    assert.equal(h.object.constants().nr_cpus?.readUInt32LE(0), cpus);
    assert.deepEqual(h.object.map('cpu_map').withCodecs(u32, qsize).get(0), { qsize: 512, prog_id: 0 });
    runSamples(h, 'redirect', `cpus 0..${cpus - 1}`);
    // Non-IP, malformed and cut packets all go somewhere with a queue too.
    for (const cut of prefixes(udp4)) assert.equal(h.run(cut).verdict, 'redirect', `UDP cut to ${cut.length}`);
    assert.equal(h.run(frame([eth(), ip4({ ihl: 2 }), udp(1)])).verdict, 'redirect', 'IHL 2');
    assert.deepEqual(
      readStats(h.object),
      totals({ redirect: [3 + (udp4.length - 13) + 1, sampleBytes + ((udp4.length + 14) * (udp4.length - 13)) / 2 + 42] }),
    );
  });

  it('nr_cpus and cpus_available set, but no cpu_map entry: the packet passes', () => {
    const h = cpumap({
      constants: { nr_cpus: 2 },
      configure: (o) => {
        const available = o.map('cpus_available').withCodecs(u32, u32);
        available.set(0, 0);
        available.set(1, 1);
      },
    });
    runSamples(h, 'pass', 'no queues');
    h.assertStats();
  });

  it('nr_cpus above the map size is clamped, and unset slots of cpus_available name CPU 0', () => {
    const h = cpumap({ constants: { nr_cpus: 1000 }, configure: (o) => queue(o, 0) });
    runSamples(h, 'redirect', 'nr_cpus 1000, only CPU 0 has a queue');
    h.assertStats();
  });

  for (const seed of [0, 0xdeadbeef]) {
    it(`hash_seed 0x${seed.toString(16)}: the slot of each flow is the reference hash % nr_cpus, the same both ways`, { skip: cpus < 2 ? 'needs 2 CPUs' : false }, () => {
      // Slot 1 → CPU 1 has a queue, slot 0 → CPU 0 has none: REDIRECT means slot 1, PASS slot 0.
      const h = cpumap({
        constants: { nr_cpus: 2, hash_seed: seed },
        configure: (o) => {
          const available = o.map('cpus_available').withCodecs(u32, u32);
          available.set(0, 0);
          available.set(1, 1);
          queue(o, 1);
        },
      });
      const rng = new Prng(testSeed(seed ^ 0x51ee));
      const wrong: string[] = [];
      let toSlot1 = 0;
      const flows = 200;
      for (let i = 0; i < flows; i++) {
        const v6 = i % 2 === 1;
        const protocol = rng.pick([PROTO.UDP, PROTO.TCP]);
        const flow: FlowKey = {
          src: v6 ? `2001:db8::${rng.int(0x10000).toString(16)}` : `198.18.${rng.int(256)}.${rng.int(256)}`,
          dst: v6 ? `2001:db8:1::${rng.int(0x10000).toString(16)}` : `198.19.${rng.int(256)}.${rng.int(256)}`,
          srcPort: rng.range(1, 65535),
          dstPort: rng.range(1, 65535),
          protocol,
        };
        const build = (f: FlowKey): Buffer => {
          const ip = v6 ? ip6({ src: f.src, dst: f.dst }) : ip4({ src: f.src, dst: f.dst });
          return frame([eth(), ip, protocol === PROTO.UDP ? udp(f.dstPort, f.srcPort) : tcp(f.dstPort, f.srcPort)]);
        };
        const reverse: FlowKey = { ...flow, src: flow.dst, dst: flow.src, srcPort: flow.dstPort, dstPort: flow.srcPort };
        const expected = flowHash(flow, seed) % 2 === 1 ? 'redirect' : 'pass';
        const there = h.run(build(flow)).verdict;
        const back = h.run(build(reverse)).verdict;
        if (there !== expected || back !== expected) wrong.push(`${JSON.stringify(flow)}: ${there}/${back}, reference ${expected}`);
        if (expected === 'redirect') toSlot1++;
        assert.equal(flowHash(reverse, seed), flowHash(flow, seed), 'the reference is symmetric too');
      }
      assert.deepEqual(wrong, []);
      assert.ok(toSlot1 > 0.3 * flows && toSlot1 < 0.7 * flows, `spread over 2 slots: ${toSlot1}/${flows} to slot 1`);

      // Fragments hash without ports: every fragment of a datagram lands on one slot.
      const datagram = { src: IP6_A, dst: IP6_B, srcPort: 0, dstPort: 0, protocol: PROTO.UDP };
      const fragmentVerdict = flowHash(datagram, seed) % 2 === 1 ? 'redirect' : 'pass';
      const first = frame([eth(), ip6({ src: IP6_A, dst: IP6_B }), fragment6(0, true), udp(53, 40000, { udpLength: 3000 }), payload(Buffer.alloc(32))]);
      const later = frame([eth(), ip6({ src: IP6_A, dst: IP6_B }), fragment6(1448, true, { nextHeader: PROTO.UDP }), udpLookalike(7)]);
      assert.deepEqual([h.run(first).verdict, h.run(later).verdict], [fragmentVerdict, fragmentVerdict]);
      const first4 = frame([eth(), ip4({ src: IP4_A, dst: IP4_B, mf: true }), udp(53, 40000, { udpLength: 3000 })]);
      const later4 = frame([eth(), ip4({ src: IP4_A, dst: IP4_B, fragmentOffset: 1480, protocol: PROTO.UDP }), udpLookalike(7)]);
      const v4Verdict = flowHash({ src: IP4_A, dst: IP4_B, srcPort: 0, dstPort: 0, protocol: PROTO.UDP }, seed) % 2 === 1 ? 'redirect' : 'pass';
      assert.deepEqual([h.run(first4).verdict, h.run(later4).verdict], [v4Verdict, v4Verdict]);

      // ICMP has no ports; VLAN tags do not change the flow.
      const ping = { src: IP4_A, dst: IP4_B, srcPort: 0, dstPort: 0, protocol: PROTO.ICMP };
      const pingVerdict = flowHash(ping, seed) % 2 === 1 ? 'redirect' : 'pass';
      assert.equal(h.run(frame([eth(), ip4({ src: IP4_A, dst: IP4_B }), icmp(8)])).verdict, pingVerdict);
      assert.equal(h.run(frame([eth(), vlan(5), ip4({ src: IP4_A, dst: IP4_B }), icmp(8)])).verdict, pingVerdict);

      // Non-IP and malformed packets use slot 0 (CPU 0: no queue yet, then a queue).
      assert.equal(h.run(arp).verdict, 'pass');
      assert.equal(h.run(frame([eth(), ip4({ ihl: 2 }), udp(1)])).verdict, 'pass');
      queue(h.object, 0);
      assert.equal(h.run(arp).verdict, 'redirect');
      assert.equal(h.run(frame([eth(), ip4({ ihl: 2 }), udp(1)])).verdict, 'redirect');
      h.assertStats();
    });
  }
});
