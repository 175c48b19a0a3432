/**
 * Real traffic through the load balancer (test/netns/lb-traffic*.test.ts): the network, the
 * backend servers and the clients.
 *
 *   client eth0 ──── eth0 net br0 ─┬─ eth0 lb        (XDP lb on lb's eth0)
 *                    (router)      ├─ eth0 be1       (VIPs on lo; lb decap for ipip)
 *                                  ├─ eth0 be2
 *                                  └─ eth0 be3
 *
 * "net" is the router: it routes the client's traffic to the VIPs via the load balancer's
 * address on one L2 segment (a bridge) that the load balancer and the backends share, which is
 * what dsr-l2 needs (the load balancer only rewrites the destination MAC). Backends hold the
 * VIPs on loopback (ARP for them ignored) and answer the client directly through the router:
 * replies never cross the load balancer. ipip uses the same segment (the outer destination is
 * the backend itself, so the next-hop MAC is the backend's).
 *
 * Every link has TX checksum offload off: the client's checksums must be complete on the wire,
 * as from a real NIC (a partial checksum does not survive XDP_TX). The bridge port facing the
 * load balancer runs xdpkit's `pass`: a veth delivers the frames its peer sends with XDP_TX only
 * when it has an XDP program itself (GRO alone was not enough on a bridge port here).
 *
 * Servers and clients are small Node scripts, one process per backend and one per batch of
 * flows, so thousands of connections take a second or two.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Testbed, assertTestAddress, withNetnsSync } from '../../src/net/index.js';
import { loadOnInterface } from '../../src/programs/manager.js';
import { unloadAll } from './netns.js';

export const BACKENDS = ['be1', 'be2', 'be3'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface LbNetwork {
  bed: Testbed;
  /** Gateway of the segment (br0 in "net") and of the client's link. */
  gateway: { v4: string; v6: string };
  client: { v4: string; v6: string };
  lb: { v4: string; v6: string; mac: string };
  backends: Record<BackendName, { v4: string; v6: string; mac: string }>;
  vip: { v4: string; v6: string };
  /** Interfaces that may carry XDP programs, for tearDown. */
  interfaces: [ns: string, ifname: string][];
}

const prefixOf = (subnet: string): string => subnet.split('.').slice(0, 3).join('.');
const v6In = (subnet: string, suffix: string): string => subnet.replace(/::\/64$/, `::${suffix}`);

/** Builds the network above (namespaces named PREFIX-NAME-random); on failure removes what it created. */
export async function createLbNetwork(prefix = 'xdpkit-lbt'): Promise<LbNetwork> {
  const noCsum = { txChecksumOffload: false };
  const bed = await Testbed.create({
    namespaces: ['client', 'net', 'lb', ...BACKENDS],
    prefix,
    links: [
      { a: 'client', b: 'net', ...noCsum },
      { a: 'lb', b: 'net', addresses: false, ...noCsum },
      ...BACKENDS.map((be) => ({ a: be, b: 'net', addresses: false, ...noCsum })),
    ],
  });
  try {
    const segment = bed.link(1);
    const seg4 = prefixOf(segment.subnetV4);
    const seg6 = (suffix: string) => v6In(segment.subnetV6, suffix);
    // The VIPs come from a subnet no interface uses (link 2's).
    const vip = { v4: `${prefixOf(bed.link(2).subnetV4)}.10`, v6: v6In(bed.link(2).subnetV6, '10') };
    const gateway = { v4: `${seg4}.1`, v6: seg6('1') };
    const lb = { v4: `${seg4}.2`, v6: seg6('2'), mac: bed.end('lb').mac };
    const backends = Object.fromEntries(BACKENDS.map((be, i) => [be, { v4: `${seg4}.${11 + i}`, v6: seg6(String(11 + i)), mac: bed.end(be).mac }])) as LbNetwork['backends'];
    for (const a of [vip.v4, vip.v6, gateway.v4, lb.v4]) assertTestAddress(a);

    // The router: a bridge over the segment's ports, forwarding, VIPs routed to the load balancer.
    const ports = [1, 2, 3, 4].map((i) => bed.end('net', i).ifname);
    const net = (argv: string[]) => bed.exec('net', argv);
    await net(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    for (const port of ports) await net(['ip', 'link', 'set', port, 'master', 'br0']);
    await net(['ip', 'link', 'set', 'br0', 'up']);
    const lbPort = bed.end('net', 1).ifname;
    withNetnsSync(bed.netns('net'), () => loadOnInterface({ ifname: lbPort, program: 'pass', mode: 'native' }));
    await net(['ip', 'addr', 'add', `${gateway.v4}/24`, 'dev', 'br0']);
    await net(['ip', '-6', 'addr', 'add', `${gateway.v6}/64`, 'dev', 'br0', 'nodad']);
    await net(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await net(['ip', 'route', 'add', `${vip.v4}/32`, 'via', lb.v4]);
    await net(['ip', '-6', 'route', 'add', `${vip.v6}/128`, 'via', lb.v6]);

    const client = { v4: bed.address('client', 4, 0), v6: bed.address('client', 6, 0) };
    await bed.exec('client', ['ip', 'route', 'add', 'default', 'via', bed.address('net', 4, 0)]);
    await bed.exec('client', ['ip', '-6', 'route', 'add', 'default', 'via', bed.address('net', 6, 0)]);

    const onSegment = async (ns: string, v4: string, v6: string) => {
      await bed.exec(ns, ['ip', 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
      await bed.exec(ns, ['ip', '-6', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
      await bed.exec(ns, ['ip', 'route', 'add', 'default', 'via', gateway.v4]);
      await bed.exec(ns, ['ip', '-6', 'route', 'add', 'default', 'via', gateway.v6]);
    };
    await onSegment('lb', lb.v4, lb.v6);
    for (const be of BACKENDS) {
      await onSegment(be, backends[be].v4, backends[be].v6);
      // The VIPs on loopback; never answer ARP for them (the classic DSR backend setup).
      await bed.exec(be, ['ip', 'addr', 'add', `${vip.v4}/32`, 'dev', 'lo']);
      await bed.exec(be, ['ip', '-6', 'addr', 'add', `${vip.v6}/128`, 'dev', 'lo']);
      await bed.exec(be, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
    }
    return {
      bed,
      gateway,
      client,
      lb,
      backends,
      vip,
      interfaces: [['lb', 'eth0'], ['net', lbPort], ...BACKENDS.map((be) => [be, 'eth0'] as [string, string])],
    };
  } catch (error) {
    unloadAll(bed, [['net', 'eth1']]);
    await bed.destroy();
    throw error;
  }
}

// ---- backend servers ----

// CommonJS for `node -e`. Listens on TCP and UDP `port` of every VIP (bound to the VIP, so UDP
// replies leave from it). TCP: greets each connection with the backend's name and answers every
// line with it; UDP: answers every datagram with it.
const BACKEND_SERVER = `
const net = require('node:net');
const dgram = require('node:dgram');
const [name, port, ...vips] = process.argv.slice(1);
let pending = vips.length * 2;
const ready = () => { if (--pending === 0) console.log('ready'); };
const fail = (err) => { console.error(err.message); process.exit(1); };
for (const vip of vips) {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write(name + '\\n');
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let i;
      while ((i = buffered.indexOf('\\n')) >= 0) { buffered = buffered.slice(i + 1); socket.write(name + '\\n'); }
    });
    socket.on('end', () => socket.end());
  });
  server.on('error', fail);
  server.listen({ host: vip, port: Number(port), backlog: 4096 }, ready);
  const udp = dgram.createSocket(vip.includes(':') ? 'udp6' : 'udp4');
  udp.on('error', fail);
  udp.on('message', (msg, rinfo) => udp.send(name, rinfo.port, rinfo.address));
  udp.bind(Number(port), vip, ready);
}
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts the name-reporting server of a backend; resolves once it listens on every VIP. */
export async function startBackend(bed: Testbed, ns: string, port: number, vips: string[]): Promise<ChildProcess> {
  const child = bed.spawn(ns, [process.execPath, '-e', BACKEND_SERVER, ns, String(port), ...vips]);
  await firstLine(child, `backend server in ${ns}`);
  return child;
}

function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}): ${stderr.trim()}`)));
  });
}

// ---- clients ----

// CommonJS for `node -e`: one flow per source port in [first, first + count), `concurrency` at a
// time. TCP: connect from that port, read the greeting (the backend's name), close. UDP: a socket
// bound to that port and connected to the VIP (so only the VIP's answer counts), send, wait for
// the answer, resending once after a timeout. Prints {port: name or "!error"} as JSON.
const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const [proto, dst, port, first, count, concurrency, timeoutMs] = process.argv.slice(1);
const out = {};
const one = (src) => new Promise((resolve) => {
  const done = (v) => { out[src] = v; resolve(); };
  if (proto === 'tcp') {
    const s = net.connect({ host: dst, port: Number(port), localPort: src });
    s.setTimeout(Number(timeoutMs), () => { s.destroy(); done('!timeout'); });
    let buf = '';
    s.on('data', (c) => { buf += c; const i = buf.indexOf('\\n'); if (i >= 0) { s.destroy(); done(buf.slice(0, i)); } });
    s.on('error', (e) => done('!' + (e.code || e.message)));
  } else {
    const s = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
    let tries = 0, timer;
    const send = () => { tries++; s.send('q'); timer = setTimeout(() => (tries < 2 ? send() : finish('!timeout')), Number(timeoutMs)); };
    const finish = (v) => { clearTimeout(timer); s.close(); done(v); };
    s.on('message', (m) => finish(m.toString()));
    s.on('error', (e) => finish('!' + (e.code || e.message)));
    s.bind(src, () => s.connect(Number(port), dst, send));
  }
});
(async () => {
  let next = Number(first);
  const end = Number(first) + Number(count);
  const worker = async () => { while (next < end) await one(next++); };
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
  console.log(JSON.stringify(out));
})();
`;

export interface FlowBatch {
  proto: 'tcp' | 'udp';
  dst: string;
  port: number;
  /** Source ports firstPort … firstPort + count − 1, one flow each. */
  firstPort: number;
  count: number;
  concurrency?: number;
  timeoutMs?: number;
}

/** Runs a batch of flows from the client; source port → backend name (or "!error"). */
export async function runFlows(bed: Testbed, ns: string, batch: FlowBatch): Promise<Map<number, string>> {
  assertTestAddress(batch.dst);
  assert.ok(batch.firstPort >= 1024 && batch.firstPort + batch.count <= 32768, 'source ports below the ephemeral range');
  const argv = [process.execPath, '-e', CLIENT, batch.proto, batch.dst, String(batch.port), String(batch.firstPort), String(batch.count), String(batch.concurrency ?? 64), String(batch.timeoutMs ?? 2000)];
  const { stdout } = await bed.exec(ns, argv, { timeoutMs: 120_000 });
  const parsed = JSON.parse(stdout) as Record<string, string>;
  return new Map(Object.entries(parsed).map(([p, name]) => [Number(p), name]));
}

/** Flows per answer (backend name or error). */
export function tally(flows: Map<number, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of flows.values()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

// CommonJS for `node -e`: one TCP connection that reads the greeting, sends `bytes` bytes and
// a newline (full-size segments), and prints the answer line, or "!error".
const BIG_REQUEST = `
const net = require('node:net');
const [dst, port, bytes, timeoutMs] = process.argv.slice(1);
const s = net.connect({ host: dst, port: Number(port) });
const lines = [];
let buf = '';
const done = (v) => { console.log(v); process.exit(0); };
s.setTimeout(Number(timeoutMs), () => done('!timeout'));
s.on('error', (e) => done('!' + (e.code || e.message)));
s.on('data', (c) => {
  buf += c;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
  if (lines.length === 1 && !s.sent) { s.sent = true; s.write(Buffer.alloc(Number(bytes), 0x78)); s.write('\\n'); }
  if (lines.length === 2) done(lines[1]);
});
`;

/** Sends one large request over TCP from the client; resolves to the backend's answer or "!error". */
export async function bigRequest(bed: Testbed, ns: string, dst: string, port: number, bytes: number): Promise<string> {
  assertTestAddress(dst);
  const { stdout } = await bed.exec(ns, [process.execPath, '-e', BIG_REQUEST, dst, String(port), String(bytes), '10000'], { timeoutMs: 20_000 });
  return stdout.trim();
}

// CommonJS for `node -e`: opens one TCP connection per source port and keeps them; every stdin
// line makes it send a line on each connection and print the answers as JSON
// ({port: name or "!closed"/"!error"}); the first print is the greetings.
const LONG_LIVED = `
const net = require('node:net');
const readline = require('node:readline');
const [dst, port, first, count] = process.argv.slice(1);
const conns = [];
for (let i = 0; i < Number(count); i++) {
  const src = Number(first) + i;
  const c = { src, s: net.connect({ host: dst, port: Number(port), localPort: src }), buf: '', waiting: null, state: 'open' };
  c.s.on('data', (d) => { c.buf += d; let j; while ((j = c.buf.indexOf('\\n')) >= 0) { const line = c.buf.slice(0, j); c.buf = c.buf.slice(j + 1); if (c.waiting) { const w = c.waiting; c.waiting = null; w(line); } } });
  c.s.on('error', (e) => { c.state = '!' + (e.code || e.message); if (c.waiting) c.waiting(c.state); });
  c.s.on('close', () => { if (c.state === 'open') c.state = '!closed'; if (c.waiting) c.waiting(c.state); });
  conns.push(c);
}
const answer = (c, send) => new Promise((resolve) => {
  if (c.state !== 'open') return resolve(c.state);
  const t = setTimeout(() => { c.waiting = null; resolve('!timeout'); }, 3000);
  c.waiting = (v) => { clearTimeout(t); resolve(v); };
  if (send) c.s.write('ping\\n');
});
const round = async (send) => {
  const out = {};
  await Promise.all(conns.map(async (c) => { out[c.src] = await answer(c, send); }));
  console.log(JSON.stringify(out));
};
round(false);
readline.createInterface({ input: process.stdin }).on('line', (l) => (l === 'end' ? process.exit(0) : round(true)));
`;

/** TCP connections kept open from the client; exchange() sends a line on each and reads the answers. */
export class LongLivedConnections {
  private readonly lines: string[] = [];
  private readonly waiters: (() => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.waiters.shift()?.();
    });
  }

  /** Opens `count` connections from source ports firstPort…; resolves with their greetings. */
  static async open(bed: Testbed, ns: string, dst: string, port: number, firstPort: number, count: number): Promise<{ conns: LongLivedConnections; greetings: Map<number, string> }> {
    assertTestAddress(dst);
    const child = bed.spawn(ns, [process.execPath, '-e', LONG_LIVED, dst, String(port), String(firstPort), String(count)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const conns = new LongLivedConnections(child);
    return { conns, greetings: await conns.next() };
  }

  /** Sends one line on every connection; source port → the name in the answer. */
  exchange(): Promise<Map<number, string>> {
    this.child.stdin!.write('ping\n');
    return this.next();
  }

  close(): void {
    this.child.stdin!.end('end\n');
  }

  private async next(): Promise<Map<number, string>> {
    if (this.lines.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('long-lived client gave no answer within 10 s')), 10_000);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const parsed = JSON.parse(this.lines.shift()!) as Record<string, string>;
    return new Map(Object.entries(parsed).map(([p, name]) => [Number(p), name]));
  }
}
