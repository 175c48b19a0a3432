/**
 * Atomic replace under live traffic: while a sends a paced stream of numbered UDP datagrams and a
 * fast ping, the program on b's eth0 is replaced over and over — through the manager
 * (loadOnInterface with force: a BPF link update) and through the binding (replaceXdp with the
 * expected old id), alternately. Two chains: pass ↔ pass′ with the traffic going to b, and
 * reflect ↔ reflect with the traffic going to an address only the program answers, so that any
 * gap between programs loses packets. Not one datagram or echo may be lost, and the program left
 * attached is the last one put there. A plain load on the busy interface fails and changes
 * nothing. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { BpfObject, BusyError, queryXdp, replaceXdp, type XdpTarget } from '../../src/bpf/index.js';
import { Testbed } from '../../src/net/index.js';
import { readRecord } from '../../src/programs/records.js';
import { loadOnInterface } from '../../src/programs/manager.js';
import { resolveTarget } from '../../src/programs/target.js';
import { builtinObject, fixture } from '../helpers/paths.js';
import { inNs, ipLinkXdp, pingExact, programStats, skip, sleep, staticNeighbour, unloadAll, waitForStats, tearDown } from '../helpers/netns.js';

/** Replacements per test (half through each path), and the pause between two. */
const REPLACEMENTS = 40;
const REPLACE_EVERY_MS = 20;
/** Stream pacing: one datagram per millisecond, and a 10 ms ping alongside. */
const INTERVAL_US = 1000;
const PINGS = 250;
const PORT = 9500;
/** Traffic flowing before the first and after the last replacement. */
const MARGIN_MS = 200;
/** Socket receive buffers big enough that a receiver stalled by a busy machine loses nothing. */
const RCVBUF = 4 << 20;

/**
 * Sends datagram i (payload: i as decimal text) at start + i × interval until SIGTERM: a steady
 * rate, so any loss is the attachment's. With echo = 1 it also collects what comes back to its
 * own port (reflected datagrams) until 300 ms after the last send. Prints "started", and one JSON
 * line at the end: { sent, echoed: [sequence numbers] }.
 */
const PACED_SENDER = `
const dgram = require('node:dgram');
const [dst, port, intervalUs, echo, rcvbuf] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const sock = dgram.createSocket({ type: dst.includes(':') ? 'udp6' : 'udp4', recvBufferSize: rcvbuf });
const echoed = [];
sock.on('message', (msg) => echoed.push(Number(msg.toString())));
const start = process.hrtime.bigint();
let next = 0, acked = 0, stopping = false;
const finish = () => { console.log(JSON.stringify({ sent: acked, echoed })); sock.close(); };
const maybeFinish = () => { if (stopping && acked === next) setTimeout(finish, echo ? 300 : 0); };
const tick = () => {
  if (stopping) return;
  const due = Number((process.hrtime.bigint() - start) / 1000n) / intervalUs + 1;
  while (next < due) {
    sock.send(String(next++), port, dst, (err) => {
      if (err) { console.error(err.message); process.exit(1); }
      acked++;
      maybeFinish();
    });
  }
  setTimeout(tick, 1);
};
process.on('SIGTERM', () => { if (!stopping) { stopping = true; maybeFinish(); } });
console.log('started');
tick();
`;

/** Collects numbered datagrams until 1 s passes without one (after SIGTERM); prints them as JSON. */
const RECEIVER = `
const dgram = require('node:dgram');
const [address, port, rcvbuf] = process.argv.slice(1);
const sock = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: Number(rcvbuf) });
const received = [];
let last = Date.now(), stopping = false;
sock.on('message', (msg) => { received.push(Number(msg.toString())); last = Date.now(); });
sock.bind(Number(port), address, () => console.log('ready'));
const check = () => { if (Date.now() - last > 1000) { console.log(JSON.stringify({ received })); sock.close(); } else setTimeout(check, 100); };
process.on('SIGTERM', () => { if (!stopping) { stopping = true; last = Date.now(); check(); } });
`;

/** A helper script in a namespace: its stdout, a promise of its last line, SIGTERM to stop it. */
function runScript(bed: Testbed, ns: string, script: string, args: (string | number)[]): { firstLine: Promise<string>; stop: () => Promise<string> } {
  const child = bed.spawn(ns, [process.execPath, '-e', script, ...args.map(String)]);
  let out = '';
  let err = '';
  let onLine: ((line: string) => void) | undefined;
  const firstLine = new Promise<string>((resolve) => (onLine = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('\n')) onLine?.(out.split('\n')[0]!);
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = once(child, 'exit');
  return {
    firstLine,
    stop: async () => {
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, `helper in ${ns} exited cleanly: ${err}`);
      return out.trim().split('\n').at(-1) ?? '';
    },
  };
}

/**
 * What streams through the program while it is replaced:
 * - pass: datagrams to b's address, received by a listener in b; pings to b. A gap between two
 *   programs would go unnoticed here (without a program the stack passes everything too), so this
 *   proves that replacing disturbs nothing, not that it is atomic.
 * - reflect: datagrams and pings to an address nobody owns (.3 / ::3, neighbour entry at b's MAC),
 *   which only the reflect program answers (XDP_TX back to a). Any moment without a program, or
 *   with a half-installed one, loses answers: this is the atomicity test.
 */
type Chain = 'pass' | 'reflect';

describe('atomic replace under continuous traffic', { skip, timeout: 180_000 }, () => {
  let bed: Testbed;
  let ghost4 = '';
  let ghost6 = '';

  before(async () => {
    // TX checksum offload off: reflected UDP keeps a's checksum, which must then be complete.
    bed = await Testbed.pair({ txChecksumOffload: false });
    ghost4 = bed.link(0).subnetV4.replace(/\.0\/24$/, '.3');
    ghost6 = bed.link(0).subnetV6.replace(/::\/64$/, '::3');
    await staticNeighbour(bed, 'a', 'eth0', ghost4, bed.end('b').mac);
    await staticNeighbour(bed, 'a', 'eth0', ghost6, bed.end('b').mac);
  });

  after(async () => {
    if (!bed) return;
    await tearDown(bed, [
      ['b', 'eth0'],
      ['a', 'eth0'],
    ]);
  });

  /** The UDP counters of a namespace that say whether its stack itself dropped datagrams. */
  async function udpErrors(ns: string): Promise<Record<string, number>> {
    const snmp = (await bed.exec(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
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

  for (const chain of ['pass', 'reflect'] as const satisfies readonly Chain[]) {
    for (const mode of ['native', 'generic'] as const) {
      it(`loses no packet while ${chain} is replaced again and again (${mode})`, async (t) => {
        // pass and pass′ (the seed, another program); reflect is loaded afresh each time.
        const objects = chain === 'pass' ? [builtinObject('pass'), fixture('seed', 'xdp_pass')] : [builtinObject('reflect'), builtinObject('reflect')];
        const [dst4, dst6] = chain === 'pass' ? [bed.address('b', 4), bed.address('b', 6)] : [ghost4, ghost6];
        try {
          // XDP_TX frames reach a only because a's veth runs XDP (DESIGN.md).
          if (chain === 'reflect') inNs(bed, 'a', () => loadOnInterface({ ifname: 'eth0', program: 'pass', mode: 'native' }));
          const first = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: chain, mode }));
          assert.equal(first.attach.mode, mode);
          const ids = [first.record.programId];
          // Neighbours resolved and paths warm before the measured stream starts.
          assert.equal(await bed.ping('a', dst4, { count: 1 }), 1);
          assert.equal(await bed.ping('a', dst6, { count: 1 }), 1);
          const errorsBefore = [await udpErrors('a'), await udpErrors('b')];

          const receiver = chain === 'pass' ? runScript(bed, 'b', RECEIVER, [dst4, PORT, RCVBUF]) : undefined;
          if (receiver) assert.equal(await receiver.firstLine, 'ready');
          const sender = runScript(bed, 'a', PACED_SENDER, [dst4, PORT, INTERVAL_US, chain === 'reflect' ? 1 : 0, RCVBUF]);
          assert.equal(await sender.firstLine, 'started');
          const started = Date.now();
          const pinging = pingExact(bed, 'a', dst6, { count: PINGS, intervalMs: 10 });
          await sleep(MARGIN_MS);

          // Alternately through the manager (link update) and the binding (replaceXdp), ending
          // with objects[0] (the built-in, whose counters are read below).
          let viaManager = 0;
          let viaBinding = 0;
          const firstAt = Date.now() - started;
          while (ids.length <= REPLACEMENTS) {
            const previous = ids.at(-1)!;
            const object = objects[ids.length % 2]!;
            if (ids.length % 2 === 1) {
              const { attach } = inNs(bed, 'b', () => loadOnInterface({ ifname: 'eth0', program: object, mode, force: true }));
              assert.equal(attach.replaced?.programId, previous, 'the manager replaced the program that was there');
              assert.equal(attach.mode, mode);
              ids.push(attach.programId);
              viaManager++;
            } else {
              const result = inNs(bed, 'b', () => replaceDirectly(resolveTarget('eth0'), object, previous));
              assert.equal(result.replaced, previous, 'replaceXdp replaced the program that was there');
              ids.push(result.programId);
              viaBinding++;
            }
            await sleep(REPLACE_EVERY_MS);
          }
          const lastAt = Date.now() - started;
          await sleep(MARGIN_MS);

          const report = JSON.parse(await sender.stop()) as { sent: number; echoed: number[] };
          const stoppedAt = Date.now() - started;
          const numbers = receiver ? (JSON.parse(await receiver.stop()) as { received: number[] }).received : report.echoed;
          const ping = await pinging;
          const errorsAfter = [await udpErrors('a'), await udpErrors('b')];

          const seen = new Set(numbers);
          const missing = [...Array(report.sent).keys()].filter((i) => !seen.has(i));
          t.diagnostic(
            `${chain} ${mode}: ${ids.length - 1} replacements (${viaManager} loadOnInterface --force, ${viaBinding} replaceXdp) ` +
              `from ${firstAt} to ${lastAt} ms of a ${stoppedAt} ms stream; UDP ${numbers.length}/${report.sent} ${chain === 'pass' ? 'received' : 'reflected back'}, ` +
              `ping ${ping.received}/${ping.transmitted} answered`,
          );
          // One datagram per millisecond since before the first replacement: the stream covered
          // every replacement and went on after the last.
          assert.ok(report.sent >= lastAt + MARGIN_MS / 2, `the sender kept pace (${report.sent} datagrams in ${stoppedAt} ms)`);
          assert.deepEqual(missing, [], `every sequence number came through (${missing.length} missing)`);
          assert.equal(numbers.length, report.sent, 'and none twice');
          assert.deepEqual(ping, { transmitted: PINGS, received: PINGS }, 'every echo request answered');
          assert.deepEqual(errorsAfter, errorsBefore, 'no stack dropped a datagram either (buffers, checksums)');
          assert.deepEqual([viaManager, viaBinding], [REPLACEMENTS / 2, REPLACEMENTS / 2], 'both ways were exercised');
          assert.equal(new Set(ids).size, ids.length, 'every replacement put a new program in place');

          const last = ids.at(-1)!;
          const attached = inNs(bed, 'b', () => queryXdp(resolveTarget('eth0')));
          assert.deepEqual(
            attached.map((a) => [a.mode, a.programId]),
            [[mode, last]],
            'the program attached is the last one put there',
          );
          assert.equal((await ipLinkXdp(bed, 'b', 'eth0')).id, last, 'iproute2 agrees');
          // The last program is the live one: it counts the next pings.
          const verdict = chain === 'pass' ? 'pass' : 'tx';
          const before = programStats(last)[verdict];
          assert.equal(await bed.ping('a', dst4, { count: 3, intervalMs: 20 }), 3);
          const after = await waitForStats(last, (s) => s[verdict] >= before + 3n);
          assert.ok(after[verdict] >= before + 3n, `the last program counted the pings under ${verdict}`);
        } finally {
          unloadAll(bed, [
            ['b', 'eth0'],
            ['a', 'eth0'],
          ]);
        }
      });
    }
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
