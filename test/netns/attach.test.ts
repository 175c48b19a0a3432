/**
 * Attaching through the program manager on real interfaces: native and generic on veth (the mode
 * the manager reports is the one the kernel, netlink and iproute2 report), `auto` and native on a
 * bridge (no native XDP), real ping/UDP through `pass` with its counters checked against a capture
 * of what was sent, a program attached by iproute2 seen as foreign, and unload putting traffic and
 * bpffs/records back as they were. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BusyError, NotSupportedError, queryXdp } from '../../src/bpf/index.js';
import { findLayer, linkDetails, runCommand, Testbed, type ParsedPacket } from '../../src/net/index.js';
import { loadOnInterface, statusOf, unloadFromInterface } from '../../src/programs/manager.js';
import { RECORD_DIR } from '../../src/programs/records.js';
import { resolveTarget } from '../../src/programs/target.js';
import { builtinObject } from '../helpers/paths.js';
import { assertCountsSent, countWhileSending, inNs, pingExact, ipLinkXdp, leftovers, skip, unloadAll, tearDown } from '../helpers/netns.js';

describe('attach on real interfaces', { skip, timeout: 120_000 }, () => {
  let bed: Testbed;

  before(async () => {
    bed = await Testbed.pair();
    // A bridge has no native XDP (DESIGN.md); it lives in b and goes with the namespace.
    await bed.exec('b', ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await bed.exec('b', ['ip', 'link', 'set', 'br0', 'up']);
  });

  after(async () => {
    if (!bed) return;
    await tearDown(bed, [
      ['b', 'eth0'],
      ['b', 'br0'],
      ['a', 'eth0'],
    ]);
  });

  for (const [mode, ipWord] of [
    ['native', 'xdp'],
    ['generic', 'xdpgeneric'],
  ] as const) {
    it(`attaches in ${mode} mode on veth; the manager, the kernel query, netlink and ip -d link agree`, async () => {
      try {
        const { attach, record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'pass', mode }));
        assert.equal(attach.mode, mode);
        assert.equal(attach.via, 'link');
        assert.equal(attach.fallbackReason, undefined, 'an explicit mode never falls back');
        assert.equal(record.mode, mode);
        assert.equal(record.programId, attach.programId);

        const [query, ...more] = inNs(bed, 'b', () => queryXdp(resolveTarget('eth0')));
        assert.deepEqual(more, [], 'exactly one program attached');
        assert.equal(query?.mode, mode);
        assert.equal(query?.programId, attach.programId);
        assert.equal(query?.programName, 'xdp_pass');
        assert.ok(query?.linkId, 'attached through a BPF link');

        const netlink = inNs(bed, 'b', () => linkDetails(bed.end('b').ifindex).xdp);
        assert.deepEqual(netlink, { attached: mode, programId: attach.programId });

        const ip = await ipLinkXdp(bed, 'b', 'eth0');
        assert.deepEqual(ip, { mode: ipWord, id: attach.programId, name: 'xdp_pass', tag: query?.programTag });

        const status = inNs(bed, 'b', () => statusOf(resolveTarget('eth0')));
        assert.equal(status.attachments.length, 1);
        assert.equal(status.attachments[0]?.managed, true);
        assert.equal(status.attachments[0]?.builtin, 'pass');

        assert.ok(existsSync(`${record.pinDir}/link`), 'link pinned');
        assert.ok(existsSync(`${RECORD_DIR}/${record.key}.json`), 'record written');

        const unloaded = inNs(bed, 'b', () => unloadFromInterface('eth0'));
        assert.equal(unloaded.managed, true);
        assert.deepEqual(
          unloaded.removed.map((r) => r.programId),
          [attach.programId],
        );
        assert.deepEqual(await ipLinkXdp(bed, 'b', 'eth0'), { mode: 'none' });
        assert.ok(!existsSync(record.pinDir), 'pin directory removed');
        assert.ok(!existsSync(`${RECORD_DIR}/${record.key}.json`), 'record removed');
      } finally {
        unloadAll(bed, [['b', 'eth0']]);
      }
    });
  }

  it('auto on a bridge falls back to generic and says why', async () => {
    try {
      const { attach, record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'br0', program: 'pass', mode: 'auto' }));
      assert.equal(attach.mode, 'generic');
      assert.equal(record.mode, 'generic');
      assert.equal(attach.fallbackReason, 'native XDP is not supported by the bridge driver of br0');
      assert.equal((await ipLinkXdp(bed, 'b', 'br0')).mode, 'xdpgeneric');
      assert.equal(inNs(bed, 'b', () => queryXdp(resolveTarget('br0')))[0]?.mode, 'generic');
    } finally {
      unloadAll(bed, [['b', 'br0']]);
    }
    assert.deepEqual(await ipLinkXdp(bed, 'b', 'br0'), { mode: 'none' });
  });

  it('native on a bridge fails with NotSupportedError naming the driver, and leaves nothing', async () => {
    try {
      assert.throws(
        () => inNs(bed, 'b', () => loadOnInterface({ ifname: 'br0', program: 'pass', mode: 'native' })),
        (error: unknown) => {
          assert.ok(error instanceof NotSupportedError, `NotSupportedError, got ${String(error)}`);
          assert.equal(error.message, 'native XDP is not supported by the bridge driver of br0');
          assert.equal(error.code, 'EOPNOTSUPP');
          assert.match(error.hint ?? '', /--mode generic/);
          return true;
        },
      );
      assert.deepEqual(inNs(bed, 'b', () => queryXdp(resolveTarget('br0'))), []);
      assert.deepEqual(await ipLinkXdp(bed, 'b', 'br0'), { mode: 'none' });
      assert.deepEqual(leftovers(bed), []);
    } finally {
      unloadAll(bed, [['b', 'br0']]);
    }
  });

  it('ping (v4, v6) and UDP (v4, v6) go through pass, and its xdp_stats count exactly what a sent', async (t) => {
    const [pings, datagrams, port] = [5, 3, 7000];
    try {
      const { record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'pass', mode: 'native' }));
      const listeners = [await bed.udpListen('b', bed.address('b', 4), port), await bed.udpListen('b', bed.address('b', 6), port)];
      // Everything a transmits reaches b's eth0 and its program, so the counter is checked
      // against a capture of what a sent.
      const { delta, sent, result } = await countWhileSending(bed, { ns: 'a', ifname: 'eth0' }, record.programId, async () => {
        const replies = [
          await pingExact(bed, 'a', bed.address('b', 4), { count: pings, intervalMs: 20 }),
          await pingExact(bed, 'a', bed.address('b', 6), { count: pings, intervalMs: 20 }),
        ];
        await bed.sendUdp('a', { dst: bed.address('b', 4), port, count: datagrams });
        await bed.sendUdp('a', { dst: bed.address('b', 6), port, count: datagrams });
        const received = [await listeners[0]!.waitFor(datagrams), await listeners[1]!.waitFor(datagrams)];
        return { replies, received };
      });
      for (const l of listeners) await l.stop();

      assert.deepEqual(result.replies, Array(2).fill({ transmitted: pings, received: pings }), 'every echo request answered');
      assert.deepEqual(result.received, [datagrams, datagrams], 'every datagram delivered');
      const ourTraffic = (p: ParsedPacket): boolean => {
        const icmp = findLayer(p, 'icmp') ?? findLayer(p, 'icmpv6');
        return (icmp !== undefined && (icmp.icmpType === 8 || icmp.icmpType === 128)) || findLayer(p, 'udp')?.dstPort === port;
      };
      const counted = assertCountsSent(delta.pass, sent, ourTraffic, 2 * pings + 2 * datagrams, 'pass');
      t.diagnostic(`pass counted ${delta.pass}: ${counted.ours} test packets + ${counted.control} ARP/ND/MLD`);
      assert.deepEqual({ ...delta, pass: 0n }, { aborted: 0n, drop: 0n, pass: 0n, tx: 0n, redirect: 0n }, 'no other verdict');
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });

  it('a program attached with iproute2 is foreign: unmanaged, with its name, id and tag; unload removes it', async () => {
    try {
      // ip netns exec: iproute2's own bpffs work stays in that command's private /sys.
      await bed.exec('b', ['ip', 'link', 'set', 'dev', 'eth0', 'xdpgeneric', 'obj', builtinObject('pass'), 'sec', 'xdp']);
      const ip = await ipLinkXdp(bed, 'b', 'eth0');
      assert.equal(ip.mode, 'xdpgeneric');
      const bpftool = JSON.parse((await runCommand(['bpftool', 'prog', 'show', 'id', String(ip.id), '--json'])).stdout) as { id: number; name: string; tag: string };

      const status = inNs(bed, 'b', () => statusOf(resolveTarget('eth0')));
      assert.deepEqual(status.attachments, [{ mode: 'generic', programId: ip.id, programName: 'xdp_pass', programTag: ip.tag, managed: false }]);
      assert.equal(bpftool.tag, ip.tag, 'bpftool agrees on the tag');
      assert.equal(bpftool.name, 'xdp_pass');

      // A plain load must not take a foreign program's place.
      assert.throws(
        () => inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'drop_udp', mode: 'generic' })),
        (error: unknown) => error instanceof BusyError && error.message.includes(`xdp_pass (id ${ip.id}, generic mode)`),
      );
      assert.equal((await ipLinkXdp(bed, 'b', 'eth0')).id, ip.id, 'the foreign program is still there');

      const unloaded = inNs(bed, 'b', () => unloadFromInterface('eth0'));
      assert.equal(unloaded.managed, false);
      assert.deepEqual(
        unloaded.removed.map((r) => [r.programId, r.programName]),
        [[ip.id, 'xdp_pass']],
      );
      assert.deepEqual(await ipLinkXdp(bed, 'b', 'eth0'), { mode: 'none' });
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });

  it('unload restores traffic and leaves no pins or records', async () => {
    const port = 7100;
    try {
      const { record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'drop_udp', mode: 'native', pinMaps: true }));
      assert.ok(existsSync(`${record.pinDir}/maps/xdp_stats`), 'maps pinned');
      const listener = await bed.udpListen('b', bed.address('b', 4), port);
      await bed.sendUdp('a', { dst: bed.address('b', 4), port, count: 3 });
      assert.equal(await listener.waitFor(1, 500), 0, 'drop_udp drops while attached');

      inNs(bed, 'b', () => unloadFromInterface('eth0'));
      assert.deepEqual(leftovers(bed), [], 'no pins or records left');
      assert.deepEqual(inNs(bed, 'b', () => queryXdp(resolveTarget('eth0'))), []);

      await bed.sendUdp('a', { dst: bed.address('b', 4), port, count: 3 });
      assert.equal(await listener.waitFor(3), 3, 'UDP arrives again after unload');
      await listener.stop();
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });
});
