/**
 * Atomic replace under live traffic: while a sends a paced stream of numbered UDP datagrams and a
 * fast ping to b, the program on b's eth0 is replaced over and over — through the manager
 * (loadOnInterface with force: a BPF link update) and through the binding (replaceXdp with the
 * expected old id) — alternating two different pass programs. Not one datagram or echo may be
 * lost, and the program left attached is the last one put there. A plain load on the busy
 * interface fails and changes nothing. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { BpfObject, BusyError, queryXdp, replaceXdp, type XdpTarget } from '../../src/bpf/index.js';
import { runCommand, Testbed } from '../../src/net/index.js';
import { readRecord } from '../../src/programs/records.js';
import { loadOnInterface } from '../../src/programs/manager.js';
import { resolveTarget } from '../../src/programs/target.js';
import { builtinObject, fixture } from '../helpers/paths.js';
import { inNs, ipLinkXdp, leftovers, programStats, skip, sleep, unloadAll, waitForStats } from '../helpers/netns.js';

/** Stream length and pacing: ~1000 datagrams/s for 3 s, and a 10 ms ping alongside. */
const DATAGRAMS = 3000;
const INTERVAL_US = 1000;
const PINGS = 250;
const PORT = 9500;
/** Pause between replacements. */
const REPLACE_EVERY_MS = 20;

/**
 * Sends datagram i (payload: i as decimal text) at start + i × interval: a steady rate that no
 * socket buffer on the way can overflow, so any loss is the attachment's. Prints "started",
 * then the number sent.
 */
const PACED_SENDER = `
const dgram = require('node:dgram');
const [dst, port, count, intervalUs] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const sock = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
const start = process.hrtime.bigint();
let next = 0;
let acked = 0;
console.log('started');
const tick = () => {
  const due = Math.min(count, Number((process.hrtime.bigint() - start) / 1000n) / intervalUs + 1);
  while (next < due) {
    sock.send(String(next++), port, dst, (err) => {
      if (err) { console.error(err.message); process.exit(1); }
      if (++acked === count) { console.log(acked); sock.close(); }
    });
  }
  if (next < count) setTimeout(tick, 1);
};
tick();
`;

describe('atomic replace under continuous traffic', { skip, timeout: 120_000 }, () => {
  let bed: Testbed;

  before(async () => {
    bed = await Testbed.pair();
  });

  after(async () => {
    if (!bed) return;
    unloadAll(bed, [['b', 'eth0']]);
    const names = bed.namespaces.map((ns) => bed.netns(ns));
    await bed.destroy();
    assert.deepEqual(leftovers(bed), [], 'no pin directory or record of this test is left');
    const list = (await runCommand(['ip', 'netns', 'list'])).stdout;
    for (const name of names) assert.ok(!list.includes(name), `namespace ${name} removed`);
  });

  /** The UDP counters of b's namespace that say whether its stack itself dropped datagrams. */
  async function udpErrors(): Promise<Record<string, number>> {
    const snmp = (await bed.exec('b', ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const [names, values] = snmp.map((l) => l.split(/\s+/).slice(1));
    const all = Object.fromEntries(names!.map((n, i) => [n, Number(values![i])]));
    return { InErrors: all.InErrors ?? -1, RcvbufErrors: all.RcvbufErrors ?? -1, InCsumErrors: all.InCsumErrors ?? -1 };
  }

  /** Replaces the program through the binding, as a tool other than the manager would. */
  function replaceDirectly(target: XdpTarget, path: string, expected: number): { programId: number; replaced: number | undefined } {
    const object = BpfObject.open(path);
    try {
      object.load();
      const result = replaceXdp(target, object.soleProgram().fd, expected);
      return { programId: result.programId, replaced: result.replaced?.programId };
    } finally {
      object.close(); // the attachment holds the program now
    }
  }

  for (const mode of ['native', 'generic'] as const) {
    it(`loses no packet while the program is replaced again and again (${mode})`, async (t) => {
      const b4 = bed.address('b', 4);
      const b6 = bed.address('b', 6);
      const objects = [builtinObject('pass'), fixture('seed', 'xdp_pass')]; // pass and pass′
      try {
        const first = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'pass', mode }));
        assert.equal(first.attach.mode, mode);
        const chain = [first.record.programId];
        // Neighbours resolved and paths warm before the measured stream starts.
        assert.equal(await bed.ping('a', b4, { count: 1 }), 1);
        assert.equal(await bed.ping('a', b6, { count: 1 }), 1);
        const errorsBefore = await udpErrors();

        const listener = await bed.udpListen('b', b4, PORT);
        const sender = bed.spawn('a', [process.execPath, '-e', PACED_SENDER, b4, String(PORT), String(DATAGRAMS), String(INTERVAL_US)]);
        let senderOut = '';
        sender.stdout!.on('data', (chunk: Buffer) => (senderOut += chunk.toString()));
        const senderDone = once(sender, 'exit');
        const pinging = bed.ping('a', b6, { count: PINGS, intervalMs: 10, timeoutMs: 10_000 });

        // Replace only once traffic is flowing, and until the stream is nearly over.
        assert.ok((await listener.waitFor(1, 5000)) >= 1, 'the stream started');
        const firstSeen = listener.count;
        let viaManager = 0;
        let viaBinding = 0;
        let lastSeen = firstSeen;
        // Stops only after a replacement with the built-in pass (odd chain length), whose
        // counters the final check reads (the seed pass has no maps).
        while (chain.length % 2 === 0 || (listener.count < DATAGRAMS - 100 && sender.exitCode === null)) {
          const previous = chain.at(-1)!;
          const object = objects[chain.length % 2]!;
          if (chain.length % 2 === 1) {
            const { attach } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: object, mode, force: true }));
            assert.equal(attach.replaced?.programId, previous, 'the manager replaced the program that was there');
            assert.equal(attach.mode, mode);
            chain.push(attach.programId);
            viaManager++;
          } else {
            const result = inNs(bed, 'b', () => replaceDirectly(resolveTarget('eth0'), object, previous));
            assert.equal(result.replaced, previous, 'replaceXdp replaced the program that was there');
            chain.push(result.programId);
            viaBinding++;
          }
          lastSeen = listener.count;
          await sleep(REPLACE_EVERY_MS);
        }

        const [code] = await senderDone;
        const replies = await pinging;
        const received = await listener.waitFor(DATAGRAMS, 3000);
        await listener.stop();
        const errorsAfter = await udpErrors();

        assert.equal(code, 0, `sender exited cleanly: ${senderOut}`);
        assert.equal(senderOut.trim().split('\n').at(-1), String(DATAGRAMS), 'the sender sent every datagram');
        const numbers = listener.datagrams.map((d) => Number(d.data.toString()));
        const seen = new Set(numbers);
        const missing = [...Array(DATAGRAMS).keys()].filter((i) => !seen.has(i));
        t.diagnostic(
          `${mode}: ${chain.length - 1} replacements (${viaManager} via loadOnInterface --force, ${viaBinding} via replaceXdp) ` +
            `while datagrams ${firstSeen}..${lastSeen} arrived; UDP ${received}/${DATAGRAMS} received, ping ${replies}/${PINGS} answered`,
        );
        assert.deepEqual(missing, [], 'every sequence number arrived');
        assert.equal(numbers.length, DATAGRAMS, 'and none twice');
        assert.equal(replies, PINGS, 'every echo request answered');
        assert.deepEqual(errorsAfter, errorsBefore, "b's stack dropped no datagram either (buffers, checksums)");
        assert.ok(chain.length - 1 >= 40, `replaced often enough to mean something (${chain.length - 1} times)`);
        assert.ok(viaManager >= 20 && viaBinding >= 20, 'both ways were exercised');
        assert.equal(new Set(chain).size, chain.length, 'every replacement put a new program in place');

        const last = chain.at(-1)!;
        const attached = inNs(bed, 'b', () => queryXdp(resolveTarget('eth0')));
        assert.deepEqual(
          attached.map((a) => [a.mode, a.programId]),
          [[mode, last]],
          'the program attached is the last one put there',
        );
        assert.equal((await ipLinkXdp(bed, 'b', 'eth0')).id, last, 'iproute2 agrees');
        // The last program is live: it sees (and passes) traffic.
        const before = programStats(last).pass;
        assert.equal(await bed.ping('a', b4, { count: 3, intervalMs: 20 }), 3);
        assert.ok((await waitForStats(last, (s) => s.pass >= before + 3n)).pass >= before + 3n, 'the last program counts the pings');
      } finally {
        unloadAll(bed, [['b', 'eth0']]);
      }
    });
  }

  it('a load without force on a busy interface fails with BusyError naming the program, and leaves it running', async () => {
    try {
      const { record } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'pass', mode: 'native' }));
      const running = record.programId;
      assert.throws(
        () => inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: 'drop_udp', mode: 'native' })),
        (error: unknown) => {
          assert.ok(error instanceof BusyError, `BusyError, got ${String(error)}`);
          assert.match(error.message, new RegExp(`^eth0 already has XDP program xdp_pass \\(id ${running}, native mode, link \\d+\\)$`));
          assert.match(error.hint ?? '', /--force/);
          return true;
        },
      );
      // replaceXdp refuses too when the program is not the one the caller expected.
      assert.throws(
        () => inNs(bed, 'b', () => replaceDirectly(resolveTarget('eth0'), builtinObject('drop_udp'), running + 100_000)),
        (error: unknown) => error instanceof BusyError && error.message.includes(`now runs program id ${running}`),
      );

      const attached = inNs(bed, 'b', () => queryXdp(resolveTarget('eth0')));
      assert.deepEqual(
        attached.map((a) => [a.mode, a.programId, a.programName]),
        [['native', running, 'xdp_pass']],
        'the running program is untouched',
      );
      assert.equal(readRecord(record.key)?.programId, running, "the record still names it");
      // It still runs: UDP (which drop_udp would have dropped) arrives, and pass counts it.
      const listener = await bed.udpListen('b', bed.address('b', 4), PORT);
      await bed.sendUdp('a', { dst: bed.address('b', 4), port: PORT, count: 3 });
      assert.equal(await listener.waitFor(3), 3);
      await listener.stop();
      assert.ok(programStats(running).pass >= 3n, 'the running program saw the datagrams');
    } finally {
      unloadAll(bed, [['b', 'eth0']]);
    }
  });
});
