/**
 * Traffic for netns tests: ping, UDP send/listen, TCP listen/connect. Each runs as a child
 * process inside the namespace (`ip netns exec … ping` or a tiny Node script), so its sockets
 * live in that namespace whatever the test's own thread does. Destinations are checked against
 * the test ranges first (test-addresses.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, SystemError } from '../bpf/errors.js';
import type { CommandOptions, CommandResult } from './command.js';
import { assertListenAddress, assertTestAddress, ipFamily } from './test-addresses.js';

/** What the helpers need from a testbed: run and spawn inside a namespace. */
export interface NamespaceRunner {
  exec(ns: string, argv: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  spawn(ns: string, argv: readonly string[]): ChildProcess;
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** How long to wait for the last replies after the final request (default 5000 ms). */
  timeoutMs?: number;
  /** Between requests (default 100 ms; below 200 ms needs root, which netns tests have). */
  intervalMs?: number;
  /** Bytes of payload per request (ping -s). */
  size?: number;
}

/**
 * Sends exactly `count` echo requests with iputils ping; resolves to the number of replies.
 * (-W waits for late replies; -w would keep sending until `count` replies came, hiding loss.)
 */
export async function ping(runner: NamespaceRunner, ns: string, address: string, options: PingOptions = {}): Promise<number> {
  assertTestAddress(address);
  const count = options.count ?? 3;
  const timeoutMs = options.timeoutMs ?? 5000;
  const argv = [
    'ping',
    `-${ipFamily(address)}`,
    '-n',
    '-q',
    '-c',
    String(count),
    '-i',
    String((options.intervalMs ?? 100) / 1000),
    '-W',
    String(Math.max(1, Math.ceil(timeoutMs / 1000))),
    ...(options.size === undefined ? [] : ['-s', String(options.size)]),
    address,
  ];
  // ping exits 1 when replies are missing: that is an answer (0 received), not a failure.
  const sending = count * (options.intervalMs ?? 100);
  const result = await runner.exec(ns, argv, { check: false, timeoutMs: sending + timeoutMs + 5000 });
  const match = /(\d+) (?:packets )?received/.exec(result.stdout);
  if (!match) throw new SystemError(`ping ${address} in ${ns} gave no summary (exit ${result.code})`, { details: (result.stderr || result.stdout).trim() });
  return Number(match[1]);
}

export interface SendUdpOptions {
  dst: string;
  port: number;
  /** Bytes or UTF-8 text per datagram (default "xdpkit"). */
  payload?: Uint8Array | string;
  /** Datagrams to send (default 1). */
  count?: number;
  /** Source port (default: any). */
  srcPort?: number;
  /** Source address to bind (default: chosen by routing). */
  src?: string;
}

// CommonJS scripts for `node -e`; arguments arrive in process.argv[1…].
const SEND_UDP = `
const dgram = require('node:dgram');
const [dst, port, hex, count, srcPort, src] = process.argv.slice(1);
const sock = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
const payload = Buffer.from(hex, 'hex');
let sent = 0;
const next = () => {
  if (sent === Number(count)) { sock.close(); console.log(sent); return; }
  sock.send(payload, Number(port), dst, (err) => { if (err) { console.error(err.message); process.exit(1); } sent++; next(); });
};
if (srcPort !== '0' || src !== '') sock.bind({ port: Number(srcPort), address: src || undefined }, next); else next();
`;

/** Sends UDP datagrams from inside the namespace; resolves to the number sent. */
export async function sendUdp(runner: NamespaceRunner, ns: string, options: SendUdpOptions): Promise<number> {
  assertTestAddress(options.dst);
  if (options.src) assertTestAddress(options.src, 'source');
  checkPort(options.port);
  const payload = typeof options.payload === 'string' || options.payload === undefined ? Buffer.from(options.payload ?? 'xdpkit', 'utf8') : Buffer.from(options.payload);
  const argv = [process.execPath, '-e', SEND_UDP, options.dst, String(options.port), payload.toString('hex'), String(options.count ?? 1), String(options.srcPort ?? 0), options.src ?? ''];
  const result = await runner.exec(ns, argv);
  return Number(result.stdout.trim());
}

const UDP_LISTEN = `
const dgram = require('node:dgram');
const [address, port] = process.argv.slice(1);
const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
sock.on('message', (msg, rinfo) => console.log(JSON.stringify({ from: rinfo.address, port: rinfo.port, data: msg.toString('hex') })));
sock.on('error', (err) => { console.error(err.message); process.exit(1); });
sock.bind(Number(port), address, () => console.log(JSON.stringify({ ready: sock.address().port })));
process.on('SIGTERM', () => process.exit(0));
`;

export interface Datagram {
  from: string;
  port: number;
  data: Buffer;
}

export interface UdpListener {
  /** The bound port (useful when 0 was asked for). */
  port: number;
  readonly datagrams: Datagram[];
  readonly count: number;
  /** Resolves with the count once at least `n` datagrams arrived, or after the timeout. */
  waitFor(n: number, timeoutMs?: number): Promise<number>;
  /** Stops listening; resolves to the final count. */
  stop(): Promise<number>;
}

/** Listens for UDP inside the namespace and records every datagram. Resolves once bound. */
export async function udpListen(runner: NamespaceRunner, ns: string, address: string, port: number): Promise<UdpListener> {
  assertListenAddress(address);
  checkPort(port, true);
  const child = runner.spawn(ns, [process.execPath, '-e', UDP_LISTEN, address, String(port)]);
  const datagrams: Datagram[] = [];
  const waiters = new Set<() => void>();
  const bound = await readLines(child, `udp listener on ${address}:${port} in ${ns}`, (line) => {
    const message = JSON.parse(line) as { ready?: number; from?: string; port?: number; data?: string };
    if (message.ready !== undefined) return message.ready;
    datagrams.push({ from: message.from ?? '', port: message.port ?? 0, data: Buffer.from(message.data ?? '', 'hex') });
    for (const wake of waiters) wake();
    return undefined;
  });
  return {
    port: bound,
    datagrams,
    get count() {
      return datagrams.length;
    },
    waitFor: (n, timeoutMs = 5000) => waitUntil(() => datagrams.length >= n, waiters, timeoutMs).then(() => datagrams.length),
    stop: async () => {
      await stop(child);
      return datagrams.length;
    },
  };
}

const TCP_LISTEN = `
const net = require('node:net');
const [address, port] = process.argv.slice(1);
const server = net.createServer((socket) => {
  console.log(JSON.stringify({ accepted: socket.remoteAddress, port: socket.remotePort }));
  socket.on('error', () => {});
  socket.end('xdpkit\\n');
});
server.on('error', (err) => { console.error(err.message); process.exit(1); });
server.listen(Number(port), address, () => console.log(JSON.stringify({ ready: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
`;

export interface TcpListener {
  port: number;
  /** Remote address:port of every connection accepted so far. */
  readonly accepted: string[];
  waitFor(n: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<number>;
}

/** A TCP server inside the namespace that accepts, answers "xdpkit\n" and closes. */
export async function tcpListen(runner: NamespaceRunner, ns: string, address: string, port: number): Promise<TcpListener> {
  assertListenAddress(address);
  checkPort(port, true);
  const child = runner.spawn(ns, [process.execPath, '-e', TCP_LISTEN, address, String(port)]);
  const accepted: string[] = [];
  const waiters = new Set<() => void>();
  const bound = await readLines(child, `tcp listener on ${address}:${port} in ${ns}`, (line) => {
    const message = JSON.parse(line) as { ready?: number; accepted?: string; port?: number };
    if (message.ready !== undefined) return message.ready;
    accepted.push(`${message.accepted}:${message.port}`);
    for (const wake of waiters) wake();
    return undefined;
  });
  return {
    port: bound,
    accepted,
    waitFor: (n, timeoutMs = 5000) => waitUntil(() => accepted.length >= n, waiters, timeoutMs).then(() => accepted.length),
    stop: async () => {
      await stop(child);
      return accepted.length;
    },
  };
}

export interface TcpConnectOptions {
  dst: string;
  port: number;
  /** Give up after this long (default 3000 ms): a dropped SYN shows as ETIMEDOUT. */
  timeoutMs?: number;
}

export interface TcpConnectResult {
  connected: boolean;
  /** ECONNREFUSED (a RST came back), ETIMEDOUT (nothing came back), EHOSTUNREACH, … */
  error?: string;
}

const TCP_CONNECT = `
const net = require('node:net');
const [dst, port, timeoutMs] = process.argv.slice(1);
const socket = net.connect({ host: dst, port: Number(port) });
const done = (result) => { console.log(JSON.stringify(result)); socket.destroy(); process.exit(0); };
socket.setTimeout(Number(timeoutMs), () => done({ connected: false, error: 'ETIMEDOUT' }));
socket.on('connect', () => done({ connected: true }));
socket.on('error', (err) => done({ connected: false, error: err.code || err.message }));
`;

/** Tries a TCP connection from inside the namespace. */
export async function tcpConnect(runner: NamespaceRunner, ns: string, options: TcpConnectOptions): Promise<TcpConnectResult> {
  assertTestAddress(options.dst);
  checkPort(options.port);
  const timeoutMs = options.timeoutMs ?? 3000;
  const result = await runner.exec(ns, [process.execPath, '-e', TCP_CONNECT, options.dst, String(options.port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  return JSON.parse(result.stdout.trim()) as TcpConnectResult;
}

function checkPort(port: number, zeroOk = false): void {
  if (!Number.isInteger(port) || port < (zeroOk ? 0 : 1) || port > 65535) throw new InvalidArgumentError(`port ${port} is out of range (${zeroOk ? 0 : 1}..65535)`);
}

/**
 * Feeds each stdout line of a helper to `onLine`; resolves with the first value it returns
 * (the "ready" message), rejects if the helper exits or stays silent before that.
 */
function readLines<T>(child: ChildProcess, what: string, onLine: (line: string) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    let ready = false;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      if (ready) return;
      child.kill('SIGKILL');
      reject(new SystemError(`${what} did not start within 10 s`, { details: stderr.trim() || undefined }));
    }, 10_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let value: T | undefined;
      try {
        value = onLine(line);
      } catch {
        return; // not one of our JSON lines
      }
      if (!ready && value !== undefined) {
        ready = true;
        clearTimeout(timer);
        resolve(value);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new SystemError(`${what} exited before it was ready (${code ?? signal})`, { details: stderr.trim() || undefined }));
    });
  });
}

function waitUntil(done: () => boolean, waiters: Set<() => void>, timeoutMs: number): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      waiters.delete(check);
      resolve();
    };
    const check = (): void => {
      if (done()) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    waiters.add(check);
  });
}

/** Stops a helper and waits until it exited (its last lines read). */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGTERM');
  });
}
