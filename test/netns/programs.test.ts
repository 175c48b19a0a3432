/**
 * The built-in programs (and a seed object) with real traffic on a three-namespace network:
 *
 *   a eth0 ──── eth0 b eth1 ──── eth0 c
 *
 * Programs run natively on b's eth0 (facing a), configured the way the CLI configures them
 * (builtinSetup), and each test checks what arrived where, plus the program's own counters.
 * Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BpfMap, programInfoById, u32, type XdpModeRequest } from '../../src/bpf/index.js';
import { checksumsValid, findLayer, Testbed, type ParsedPacket } from '../../src/net/index.js';
import { builtinSetup, type BuiltinOptions } from '../../src/programs/configure.js';
import { loadOnInterface } from '../../src/programs/manager.js';
import { fixture } from '../helpers/paths.js';
import { assertCountsSent, countWhileSending, inNs, pingExact, programStats, skip, sleep, staticNeighbour, statsDelta, unloadAll, waitForStats, tearDown } from '../helpers/netns.js';

const NONE = { aborted: 0n, drop: 0n, pass: 0n, tx: 0n, redirect: 0n };

describe('built-in programs with real traffic', { skip, timeout: 180_000 }, () => {
  let bed: Testbed;
  const attached: [string, string][] = [
    ['a', 'eth0'],
    ['b', 'eth0'],
    ['b', 'eth1'],
    ['c', 'eth0'],
  ];

  before(async () => {
    bed = await Testbed.create({
      namespaces: ['a', 'b', 'c'],
      // TX checksum offload off: veth would leave UDP checksums partial, and a partial checksum
      // does not survive XDP_REDIRECT/cpumap/XDP_TX (the receiver counts UdpInCsumErrors).
      links: [
        { a: 'a', b: 'b', txChecksumOffload: false },
        { a: 'b', b: 'c', txChecksumOffload: false },
      ],
    });
  });

  after(async () => {
    if (!bed) return;
    await tearDown(bed, attached);
  });

  /** Loads a built-in (configured as the CLI would) or an object file on `ns`'s interface. */
  function load(ns: string, ifname: string, program: string, options: BuiltinOptions = {}, mode: XdpModeRequest = 'native'): number {
    return inNs(bed, ns, () => {
      const setup = builtinSetup(program.endsWith('.o') ? undefined : program, options);
      return loadOnInterface({ ifname, program, mode, constants: setup.constants, configure: setup.configure }).record.programId;
    });
  }

  const aToB = (family: 4 | 6) => bed.address('b', family, 0);
  const sender = { ns: 'a', ifname: 'eth0' };

  it('drop_udp drops UDP over IPv4 and IPv6 while ping and TCP pass', async (t) => {
    const [port, datagrams, pings] = [8000, 4, 3];
    try {
      const id = load('b', 'eth0', 'drop_udp');
      const listeners = [await bed.udpListen('b', aToB(4), port), await bed.udpListen('b', aToB(6), port)];
      const server = await bed.tcpListen('b', '::', 8080);
      const before = programStats(id);

      await bed.sendUdp('a', { dst: aToB(4), port, count: datagrams });
      await bed.sendUdp('a', { dst: aToB(6), port, count: datagrams });
      const replies = [await pingExact(bed, 'a', aToB(4), { count: pings, intervalMs: 20 }), await pingExact(bed, 'a', aToB(6), { count: pings, intervalMs: 20 })];
      const tcp = [await bed.tcpConnect('a', { dst: aToB(4), port: 8080 }), await bed.tcpConnect('a', { dst: aToB(6), port: 8080 })];
      const after = await waitForStats(id, (s) => s.drop - before.drop >= BigInt(2 * datagrams));
      // Datagrams not dropped would have arrived long before the pings and TCP were done.
      const delivered = [listeners[0]!.count, listeners[1]!.count];
      for (const l of listeners) await l.stop();
      await server.stop();

      assert.deepEqual(delivered, [0, 0], 'no datagram reached a socket');
      assert.deepEqual(replies, Array(2).fill({ transmitted: pings, received: pings }), 'ICMP and ICMPv6 echo answered');
      assert.deepEqual(tcp, [{ connected: true }, { connected: true }], 'TCP connects over IPv4 and IPv6');
      const delta = statsDelta(before, after);
      // Nothing in a's namespace sends UDP but the test, so drop counts exactly the datagrams.
      assert.equal(delta.drop, BigInt(2 * datagrams), 'drop counted exactly the datagrams sent');
      // Pass saw at least the echo requests and two segments (SYN, ACK) of each connection.
      assert.ok(delta.pass >= BigInt(2 * pings + 2 * 2), `pass counted ${delta.pass}`);
      assert.deepEqual({ ...delta, drop: 0n, pass: 0n }, NONE);
      t.diagnostic(`drop ${delta.drop}, pass ${delta.pass}`);
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });

  /** Sends `count` datagrams to ports 53 and 54 over both families; what arrived per port/family. */
  async function toPorts53And54(count: number): Promise<{ arrived: Record<string, number> }> {
    const listeners = new Map<string, Awaited<ReturnType<Testbed['udpListen']>>>();
    for (const family of [4, 6] as const) for (const port of [53, 54]) listeners.set(`v${family}:${port}`, await bed.udpListen('b', aToB(family), port));
    for (const family of [4, 6] as const) for (const port of [53, 54]) await bed.sendUdp('a', { dst: aToB(family), port, count });
    // Datagrams that pass arrive; after those, the dropped ones have had as long.
    for (const [key, l] of listeners) if (key.endsWith(':54')) await l.waitFor(count);
    await sleep(100);
    const arrived: Record<string, number> = {};
    for (const [key, l] of listeners) arrived[key] = await l.stop();
    return { arrived };
  }

  it('drop_udp with ports [53] drops only port 53 (54 arrives), IPv4 and IPv6', async () => {
    const count = 3;
    try {
      const id = load('b', 'eth0', 'drop_udp', { ports: [53] });
      const before = programStats(id);
      const { arrived } = await toPorts53And54(count);
      const delta = statsDelta(before, programStats(id));
      assert.deepEqual(arrived, { 'v4:53': 0, 'v4:54': count, 'v6:53': 0, 'v6:54': count });
      assert.equal(delta.drop, BigInt(2 * count), 'drop counted exactly the datagrams to port 53');
      assert.ok(delta.pass >= BigInt(2 * count), 'the datagrams to port 54 passed');
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });

  it('the seed xdp_drop_udp_53.o (legacy section) loads unmodified and drops IPv4 UDP to port 53 only', async () => {
    const count = 3;
    try {
      const { record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: fixture('seed', 'xdp_drop_udp_53'), mode: 'native' }));
      assert.equal(record.section, 'xdp_drop_udp');
      assert.equal(record.programName, 'xdp_drop_udp_func');
      assert.equal(record.builtin, undefined);
      const { arrived } = await toPorts53And54(count);
      // The seed parses IPv4 only (its source has no IPv6 branch): v6 to port 53 passes.
      assert.deepEqual(arrived, { 'v4:53': 0, 'v4:54': count, 'v6:53': count, 'v6:54': count });
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });

  describe('redirect from b eth0 (facing a) to b eth1 (facing c)', () => {
    const port = 8200;
    let redirectId = 0;

    before(async () => {
      // Everything arriving on b's eth0 is redirected, ARP and ND included, so a could never
      // resolve b: give a permanent neighbour entries for b instead.
      await staticNeighbour(bed, 'a', 'eth0', aToB(4), bed.end('b', 0).mac);
      await staticNeighbour(bed, 'a', 'eth0', aToB(6), bed.end('b', 0).mac);
      // veth delivers redirected frames only to a peer that runs XDP (DESIGN.md): pass on c.
      load('c', 'eth0', 'pass');
      redirectId = load('b', 'eth0', 'redirect', { target: 'eth1' });
    });

    after(() => unloadAll(bed, [['b', 'eth0'], ['c', 'eth0']]));

    it('packets sent from a leave through b eth1, unchanged, and a capture on c sees every one', async (t) => {
      const count = 5;
      const capture = await bed.capture('c', 'eth0', { filter: `udp port ${port}`, direction: 'in' });
      const listener = await bed.udpListen('b', aToB(4), port);
      const { delta, sent } = await countWhileSending(bed, sender, redirectId, async () => {
        await bed.sendUdp('a', { dst: aToB(4), port, count, srcPort: 40004 });
        await bed.sendUdp('a', { dst: aToB(6), port, count, srcPort: 40006 });
        await capture.waitFor(2 * count);
      });
      await sleep(100); // a duplicate or stray datagram would show up now
      const packets = await capture.stop();
      const atB = await listener.stop();

      assert.equal(atB, 0, "nothing reached b's own socket");
      assert.equal(packets.length, 2 * count, 'c saw every datagram, once');
      for (const { packet, data } of packets) {
        const eth = findLayer(packet, 'eth')!;
        const ip = findLayer(packet, 'ipv4') ?? findLayer(packet, 'ipv6')!;
        const family = ip.type === 'ipv4' ? 4 : 6;
        // The frame is a's, as a sent it to b: redirect moves it, it does not rewrite it.
        assert.deepEqual([eth.src, eth.dst], [bed.end('a').mac, bed.end('b', 0).mac]);
        assert.deepEqual([ip.src, ip.dst], [bed.address('a', family), aToB(family)]);
        assert.equal(findLayer(packet, 'udp')!.srcPort, 40000 + family);
        assert.ok(checksumsValid(data), 'checksums intact');
      }
      const counted = assertCountsSent(delta.redirect, sent, (p) => findLayer(p, 'udp')?.dstPort === port, 2 * count, 'redirect');
      assert.deepEqual({ ...delta, redirect: 0n }, NONE, 'every frame was redirected');
      t.diagnostic(`redirect counted ${delta.redirect}: ${counted.ours} datagrams + ${counted.control} ARP/ND/MLD`);
    });

    it('with the target slot cleared, the fallback (pass) applies: b gets the packets, c none', async () => {
      const count = 3;
      inNs(bed, 'b', () => {
        const maps = programInfoById(redirectId).mapIds.map((id) => BpfMap.fromId(id));
        try {
          const devmap = maps.find((m) => m.name === 'redirect_map')!;
          assert.equal(devmap.withCodecs(u32, devmap.valueCodec).delete(0), true, 'slot 0 was set');
        } finally {
          for (const m of maps) m.close();
        }
      });
      const capture = await bed.capture('c', 'eth0', { filter: `udp port ${port}`, direction: 'in' });
      const listener = await bed.udpListen('b', aToB(4), port);
      const before = programStats(redirectId);
      await bed.sendUdp('a', { dst: aToB(4), port, count });
      const arrived = await listener.waitFor(count);
      const delta = statsDelta(before, programStats(redirectId));
      await sleep(100);
      const atC = (await capture.stop()).length;
      await listener.stop();

      assert.equal(arrived, count, "b's socket got every datagram");
      assert.equal(atC, 0, 'nothing went to c');
      assert.equal(delta.redirect, 0n, 'nothing can be redirected with the slot empty');
      assert.ok(delta.pass >= BigInt(count), `pass counted ${delta.pass}`);
    });

    it('with fallback drop and no target, everything is dropped', async () => {
      unloadAll(bed, [['b', 'eth0']]);
      const id = load('b', 'eth0', 'redirect', { fallback: 'drop' });
      try {
        const listener = await bed.udpListen('b', aToB(4), port);
        const { delta, sent } = await countWhileSending(bed, sender, id, async () => {
          await bed.sendUdp('a', { dst: aToB(4), port, count: 3 });
          await waitForStats(id, (s) => s.drop >= 3n);
        });
        assert.equal(await listener.stop(), 0, 'no datagram got through');
        assertCountsSent(delta.drop, sent, (p) => findLayer(p, 'udp')?.dstPort === port, 3, 'drop');
        assert.deepEqual({ ...delta, drop: 0n }, NONE);
      } finally {
        unloadAll(bed, [['b', 'eth0']]);
      }
    });
  });

  it('reflect answers pings to an address nobody owns, from b, with XDP_TX', async (t) => {
    const count = 5;
    // .3 / ::3 are on the link but no interface has them; a sends to them at b's MAC.
    const ghost = { 4: bed.link(0).subnetV4.replace(/\.0\/24$/, '.3'), 6: bed.link(0).subnetV6.replace(/::\/64$/, '::3') };
    assert.match(ghost[4], /^198\.1[89]\.\d+\.3$/);
    assert.match(ghost[6], /^2001:db8:.*::3$/);
    try {
      for (const family of [4, 6] as const) await staticNeighbour(bed, 'a', 'eth0', ghost[family], bed.end('b', 0).mac);
      assert.equal(await bed.ping('a', ghost[4], { count: 1, timeoutMs: 1000 }), 0, 'without reflect nobody answers');
      // XDP_TX frames reach a only because a's veth runs XDP (DESIGN.md).
      load('a', 'eth0', 'pass');
      const id = load('b', 'eth0', 'reflect');
      const capture = await bed.capture('a', 'eth0', { filter: 'icmp or icmp6', direction: 'in' });
      const before = programStats(id);
      const replies = [await pingExact(bed, 'a', ghost[4], { count, intervalMs: 20 }), await pingExact(bed, 'a', ghost[6], { count, intervalMs: 20 })];
      const delta = statsDelta(before, programStats(id));
      await sleep(50);
      const packets = await capture.stop();

      assert.deepEqual(replies, Array(2).fill({ transmitted: count, received: count }), 'every echo request answered');
      // Only unicast echo requests are reflected; a's ND/MLD go to group addresses or are not
      // echoes, so they pass: tx is exactly the echo requests.
      assert.equal(delta.tx, BigInt(2 * count), 'tx counted exactly the echo requests');
      assert.deepEqual({ ...delta, tx: 0n, pass: 0n }, NONE);
      const echoReplies = packets.filter(({ packet }) => {
        const icmp = findLayer(packet, 'icmp') ?? findLayer(packet, 'icmpv6');
        return icmp?.icmpType === 0 || icmp?.icmpType === 129;
      });
      assert.equal(echoReplies.length, 2 * count);
      for (const { packet, data } of echoReplies) {
        const ip = findLayer(packet, 'ipv4') ?? findLayer(packet, 'ipv6')!;
        const family = ip.type === 'ipv4' ? 4 : 6;
        assert.deepEqual([ip.src, ip.dst], [ghost[family], bed.address('a', family)], 'the reply comes from the address pinged');
        assert.equal(findLayer(packet, 'eth')!.src, bed.end('b', 0).mac, "sent by b's eth0");
        assert.ok(checksumsValid(data), 'checksums valid after the rewrite');
      }
      t.diagnostic(`tx ${delta.tx}, pass ${delta.pass}`);
    } finally {
      unloadAll(bed, [['b', 'eth0'], ['a', 'eth0']]);
      for (const family of [4, 6] as const) await bed.exec('a', ['ip', 'neigh', 'del', ghost[family], 'dev', 'eth0'], { check: false });
    }
  });

  it('cpumap steers every packet to a CPU queue, and the traffic still arrives', async (t) => {
    const [port, datagrams, pings] = [8300, 5, 3];
    const cpus = [0, 1];
    try {
      const id = load('b', 'eth0', 'cpumap', { cpus });
      const listeners = [await bed.udpListen('b', aToB(4), port), await bed.udpListen('b', aToB(6), port)];
      const { delta, sent, result } = await countWhileSending(bed, sender, id, async () => {
        await bed.sendUdp('a', { dst: aToB(4), port, count: datagrams });
        await bed.sendUdp('a', { dst: aToB(6), port, count: datagrams });
        const replies = [await pingExact(bed, 'a', aToB(4), { count: pings, intervalMs: 20 }), await pingExact(bed, 'a', aToB(6), { count: pings, intervalMs: 20 })];
        return { replies, received: [await listeners[0]!.waitFor(datagrams), await listeners[1]!.waitFor(datagrams)] };
      });
      for (const l of listeners) await l.stop();

      assert.deepEqual(result.received, [datagrams, datagrams], 'every datagram delivered after CPU steering');
      assert.deepEqual(result.replies, Array(2).fill({ transmitted: pings, received: pings }), 'every echo request answered');
      const ours = (p: ParsedPacket): boolean => findLayer(p, 'udp')?.dstPort === port || findLayer(p, 'icmp')?.icmpType === 8 || findLayer(p, 'icmpv6')?.icmpType === 128;
      // Both CPUs have a queue, so every frame (non-IP ones to slot 0) is redirected.
      const counted = assertCountsSent(delta.redirect, sent, ours, 2 * datagrams + 2 * pings, 'redirect');
      assert.deepEqual({ ...delta, redirect: 0n }, NONE);
      t.diagnostic(`redirect counted ${delta.redirect}: ${counted.ours} test packets + ${counted.control} ARP/ND/MLD`);
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });
});
