/**
 * Real traffic for the firewall's netns tests: a UDP flood from one namespace over several
 * destination ports (one traffic class per port) that counts what it sent per port, and
 * per-port packet counters in the receiving namespace (nftables, prerouting, so they count what
 * the XDP program passed before any socket could lose it).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testbed } from '../../src/net/index.js';
import { assertOk, cleanUpNamespace, cliIn, type CliRun } from './cli.js';

// Keeps 32 datagrams in flight, round-robin over the ports, until its stdin closes or the
// duration ends; prints {sent: {port: n}, seconds, sending} on exit: seconds from just before
// the first send to the last completion, sending from the first completion to the last.
// (stdin, not a signal: \`ip netns exec\` may run the command in a child of its own.)
const FLOOD = `
const dgram = require('node:dgram');
const [dst, portsCsv, secondsText, size] = process.argv.slice(1);
const ports = portsCsv.split(',').map(Number);
const sock = dgram.createSocket('udp4');
const sent = Object.fromEntries(ports.map((p) => [p, 0]));
const payload = Buffer.alloc(Number(size), 0x5a);
const start = process.hrtime.bigint();
const end = start + BigInt(Math.round(Number(secondsText) * 1e9));
let stop = false, inflight = 0, i = 0, first = 0n, last = start, done = false, scheduled = false;
process.stdin.on('end', () => { stop = true; });
process.stdin.resume();
const finish = () => {
  if (done) return;
  done = true;
  console.log(JSON.stringify({ sent, seconds: Number(last - start) / 1e9, sending: first ? Number(last - first) / 1e9 : 0 }));
  sock.close();
  process.stdin.destroy();
};
// Completions come on the next tick: pump from setImmediate, or stdin would never be read.
const pump = () => {
  scheduled = false;
  if (process.hrtime.bigint() >= end) stop = true;
  while (!stop && inflight < 32) {
    const port = ports[i++ % ports.length];
    inflight++;
    sock.send(payload, port, dst, (err) => {
      inflight--;
      last = process.hrtime.bigint();
      if (!first) first = last;
      if (err) { console.error(err.message); process.exit(1); }
      sent[port]++;
      if (!scheduled) { scheduled = true; setImmediate(pump); }
    });
  }
  if (stop && inflight === 0) finish();
};
pump();
`;

export interface FloodResult {
  /** Datagrams handed to the kernel per destination port. */
  sent: Record<number, number>;
  /** From just before the first send to the last completion (contains every datagram's trip). */
  seconds: number;
  /** From the first completion to the last (a process start-up on a busy machine left out). */
  sending: number;
}

export interface Flood {
  /** Resolves with what it sent once the duration is over. */
  finished(): Promise<FloodResult>;
  /** Ends the flood now and resolves with what it sent. */
  stop(): Promise<FloodResult>;
}

/** Starts a UDP flood from `ns` to `dst` over `ports` for at most `seconds`. */
export function startUdpFlood(bed: Testbed, ns: string, options: { dst: string; ports: number[]; seconds: number; payloadBytes?: number }): Flood {
  const argv = [process.execPath, '-e', FLOOD, options.dst, options.ports.join(','), String(options.seconds), String(options.payloadBytes ?? 18)];
  const child: ChildProcess = bed.spawn(ns, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<FloodResult>((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as FloodResult) : reject(new Error(`the UDP flood failed (exit ${code}): ${stderr}`)))),
  );
  return {
    finished: () => result,
    stop() {
      child.stdin?.end();
      return result;
    },
  };
}

/** Packets the veth end `ifname` in `ns` dropped on transmit (its peer's ring was full: lost before XDP). */
export async function vethTxDropped(bed: Testbed, ns: string, ifname: string): Promise<number> {
  const { stdout } = await bed.exec(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', ifname]);
  return (JSON.parse(stdout) as { stats64: { tx: { dropped: number } } }[])[0]!.stats64.tx.dropped;
}

export interface PortCounters {
  /** Packets per UDP destination port that reached the receiver's IP layer. */
  read(): Promise<Record<number, number>>;
  remove(): Promise<void>;
}

/** nftables counters per UDP destination port in `ns` (table inet xdpkit_fw_test, prerouting). */
export async function portCounters(bed: Testbed, ns: string, ports: number[]): Promise<PortCounters> {
  const table = 'xdpkit_fw_test';
  const rules = ports.map((p) => `  udp dport ${p} counter comment "p${p}"`).join('\n');
  const text = `table inet ${table} {\n chain pre {\n  type filter hook prerouting priority -300;\n${rules}\n }\n}\n`;
  await bed.exec(ns, ['sh', '-c', 'printf "%s" "$0" | nft -f -', text]);
  return {
    async read() {
      const { stdout } = await bed.exec(ns, ['nft', '-j', 'list', 'table', 'inet', table]);
      const out: Record<number, number> = {};
      for (const item of (JSON.parse(stdout) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] }).nftables) {
        const rule = item.rule;
        const counter = rule?.expr.find((e) => e.counter)?.counter;
        if (rule?.comment?.startsWith('p') && counter) out[Number(rule.comment.slice(1))] = counter.packets;
      }
      return out;
    },
    async remove() {
      await bed.exec(ns, ['nft', 'delete', 'table', 'inet', table]);
    },
  };
}

/**
 * A veth pair a → b for the firewall's traffic tests: GRO off (every datagram stays one packet
 * for the counters), `policy` (a function of the bed when it names the link's addresses)
 * applied on b's eth0 through the CLI, a's neighbour entry for b permanent (no datagram waits
 * behind address resolution), nftables counters per port on b. close() removes it all and
 * fails when pins or records were left behind.
 */
export interface FirewallBed {
  bed: Testbed;
  netns: string;
  cli: (args: string[], options?: { timeoutMs?: number }) => Promise<CliRun>;
  counters: PortCounters;
  close(): Promise<void>;
}

export async function firewallBed(policy: string | ((bed: Testbed) => string), ports: number[]): Promise<FirewallBed> {
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-traffic-'));
  const bed = await Testbed.pair({ gro: false });
  const netns = bed.netns('b');
  const cli = cliIn(netns);
  let counters: PortCounters | undefined;
  const close = async (): Promise<void> => {
    rmSync(dir, { recursive: true, force: true });
    await counters?.remove().catch(() => {});
    const forced = await cleanUpNamespace(netns, ['eth0']);
    await bed.destroy();
    assert.deepEqual(forced, [], 'the test left pins or records behind');
  };
  try {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, typeof policy === 'string' ? policy : policy(bed));
    assertOk(await cli(['fw', 'apply', '-f', file, '--iface', 'eth0']));
    await bed.exec('a', ['ip', 'neigh', 'replace', bed.address('b'), 'lladdr', bed.end('b').mac, 'dev', bed.end('a').ifname, 'nud', 'permanent']);
    counters = await portCounters(bed, 'b', ports);
    return { bed, netns, cli, counters, close };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}
