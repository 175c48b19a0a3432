/**
 * Packet capture with tcpdump, parsed with our own pcap reader and packet parser.
 *
 * tcpdump writes classic pcap to stdout (`-w -`), so no file or permission question arises
 * when it drops privileges, and `--immediate-mode` hands every packet over at once (no packet
 * waits in a TPACKET_V3 block when the capture stops). startCapture() resolves only after
 * tcpdump reported "listening on": packets sent after that are in the capture.
 */
import type { ChildProcess } from 'node:child_process';
import { SystemError } from '../bpf/errors.js';
import { parsePacket } from './packet-parse.js';
import type { ParsedPacket } from './packet-types.js';
import { LINKTYPE_RAW, readPcap, type PcapRecord } from './pcap.js';

export interface CaptureOptions {
  /** A pcap filter expression, e.g. "udp port 9000" or "icmp6". */
  filter?: string;
  /** Bytes kept per packet (default 262144: whole packets). */
  snaplen?: number;
  /** Only packets received (in), sent (out), or both (default). */
  direction?: 'in' | 'out' | 'inout';
  /** How long to wait for tcpdump to start listening (default 10 s). */
  startTimeoutMs?: number;
}

export interface CapturedPacket extends PcapRecord {
  packet: ParsedPacket;
}

export class Capture {
  private readonly chunks: Buffer[] = [];
  private readonly waiters = new Set<() => void>();
  private stderr = '';
  private exited: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly ifname: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      for (const wake of this.waiters) wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** The raw pcap bytes so far (a valid file up to the last complete record). */
  pcap(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Every complete packet captured so far, parsed. */
  packets(): CapturedPacket[] {
    const bytes = this.pcap();
    if (bytes.length < 24) return [];
    const file = readPcap(bytes);
    const start = file.linkType === LINKTYPE_RAW ? 'ip' : 'eth';
    return file.records.map((record) => ({ ...record, packet: parsePacket(record.data, { start }) }));
  }

  /**
   * Resolves with the packets once `until` holds (a count, or a predicate over the packets),
   * or with whatever was captured when the timeout (default 5 s) expires.
   */
  waitFor(until: number | ((packets: CapturedPacket[]) => boolean), timeoutMs = 5000): Promise<CapturedPacket[]> {
    const done = typeof until === 'number' ? (p: CapturedPacket[]) => p.length >= until : until;
    return new Promise((resolve) => {
      const check = (): void => {
        const packets = this.packets();
        if (done(packets)) finish(packets);
      };
      const finish = (packets: CapturedPacket[]): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(packets);
      };
      const timer = setTimeout(() => finish(this.packets()), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops tcpdump (SIGINT: it flushes and exits) and returns every packet captured. */
  async stop(): Promise<CapturedPacket[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    await this.exited;
    return this.packets();
  }

  /** What tcpdump printed on stderr (its start line and final statistics). */
  get log(): string {
    return this.stderr;
  }
}

/**
 * Starts tcpdump through `spawnTcpdump` (which places it in the right namespace) and waits
 * until it listens. Rejects with tcpdump's own message if it exits first (no such interface,
 * bad filter).
 */
export function startCapture(spawnTcpdump: (argv: string[]) => ChildProcess, ifname: string, options: CaptureOptions = {}): Promise<Capture> {
  const argv = [
    'tcpdump',
    '-i',
    ifname,
    '-w',
    '-',
    '-U',
    '--immediate-mode',
    '-n',
    '-s',
    String(options.snaplen ?? 262144),
    ...(options.direction ? ['-Q', options.direction] : []),
    ...(options.filter ? [options.filter] : []),
  ];
  const child = spawnTcpdump(argv);
  const capture = new Capture(child, ifname);
  return new Promise((resolve, reject) => {
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('listening on')) {
        cleanup();
        resolve(capture);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new SystemError(`tcpdump on ${ifname} exited before listening (${code ?? signal})`, { details: stderr.trim() || undefined }));
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new SystemError(`tcpdump on ${ifname} did not start listening within ${options.startTimeoutMs ?? 10_000} ms`, { details: stderr.trim() || undefined }));
    }, options.startTimeoutMs ?? 10_000);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
    child.on('error', (cause) => {
      cleanup();
      reject(new SystemError(`starting tcpdump: ${cause.message}`, { cause }));
    });
  });
}
