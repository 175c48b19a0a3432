/**
 * The in-kernel traffic generator (bpf/bench_gen.c): BPF_PROG_TEST_RUN with live frames on one
 * end of a veth pair transmits every frame to the peer. Templates are complete frames built
 * here with valid IPv4 header checksums, one per flow (source address and port varied), and the
 * program writes the whole template into every frame, since live-frames pages come back with
 * whatever the receiver wrote into them.
 */
import { join } from 'node:path';
import { BpfObject, InvalidArgumentError, xdpContext } from '../bpf/index.js';
import { buildPacket } from '../net/index.js';
import { packageRoot } from '../programs/catalogue.js';

/** Limits compiled into bench_gen.c. */
export const MAX_FLOWS = 4096;
export const MAX_FRAME = 1536;
const TEMPLATE_VALUE_SIZE = 4 + MAX_FRAME;

export interface TemplateOptions {
  srcMac: string;
  dstMac: string;
  /** First source address; flow i uses this address + (i >> 8) and port srcPort + (i & 255). */
  srcIpv4: string;
  dstIpv4: string;
  dstPort: number;
  srcPort?: number;
  /** Whole frame length in bytes without FCS, 60 (the 64-byte minimum) to 1514. */
  frameSize?: number;
  flows?: number;
}

/** UDP/IPv4 frames, one per flow, all of the same length, with valid IPv4 checksums (UDP checksum 0: none). */
export function udpTemplates(options: TemplateOptions): Buffer[] {
  const flows = options.flows ?? 1;
  const frameSize = options.frameSize ?? 60;
  if (!Number.isInteger(flows) || flows < 1 || flows > MAX_FLOWS) throw new InvalidArgumentError(`flows must be 1..${MAX_FLOWS}, got ${flows}`);
  if (!Number.isInteger(frameSize) || frameSize < 60 || frameSize > 1514) throw new InvalidArgumentError(`frame size must be 60..1514 bytes, got ${frameSize}`);
  const payload = frameSize - 14 - 20 - 8;
  const base = ipv4ToNumber(options.srcIpv4);
  const srcPort = options.srcPort ?? 10000;
  const out: Buffer[] = [];
  for (let i = 0; i < flows; i++) {
    const frame = buildPacket([
      { type: 'eth', src: options.srcMac, dst: options.dstMac },
      { type: 'ipv4', src: numberToIpv4(base + (i >> 8)), dst: options.dstIpv4, ttl: 64 },
      { type: 'udp', srcPort: srcPort + (i & 255), dstPort: options.dstPort, checksum: 0 },
      { type: 'payload', data: Buffer.alloc(payload, 0x5a) },
    ]);
    out.push(frame);
  }
  return out;
}

function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new InvalidArgumentError(`"${address}" is not an IPv4 address`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export interface GenerateOptions {
  /** Frames to send in this call. */
  count: number;
  /** Frames per live-frames batch (kernel default 64). */
  batchSize?: number;
}

/** A loaded generator with its templates; call send() inside the sender's network namespace. */
export class Generator {
  private readonly object: BpfObject;
  private readonly frame: Buffer;

  constructor(
    templates: readonly Buffer[],
    /** ifindex of the sending veth end (in its namespace). */
    private readonly ifindex: number,
  ) {
    const first = templates[0];
    if (!first) throw new InvalidArgumentError('the generator needs at least one template');
    if (templates.some((t) => t.length !== first.length)) throw new InvalidArgumentError('all templates must have the same length');
    if (templates.length > MAX_FLOWS) throw new InvalidArgumentError(`at most ${MAX_FLOWS} templates (flows)`);
    this.frame = Buffer.from(first);
    this.object = BpfObject.open(join(packageRoot(), 'build', 'bpf', 'bench_gen.o'));
    try {
      this.object.setConstants({ nr_flows: templates.length });
      this.object.load();
      const map = this.object.map('templates');
      templates.forEach((template, i) => {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(i);
        const value = Buffer.alloc(TEMPLATE_VALUE_SIZE);
        value.writeUInt32LE(template.length, 0);
        template.copy(value, 4);
        map.set(key, value);
      });
    } catch (error) {
      this.object.close();
      throw error;
    }
  }

  /** Sends `count` frames (synchronously: the calling thread runs the generator). */
  send(options: GenerateOptions): void {
    if (!Number.isInteger(options.count) || options.count < 1) throw new InvalidArgumentError(`count must be a positive integer, got ${options.count}`);
    this.object.program('xdp_bench_gen').testRun({
      data: this.frame,
      context: xdpContext(this.frame.length, { ingressIfindex: this.ifindex }),
      repeat: options.count,
      liveFrames: true,
      batchSize: options.batchSize ?? 64,
    });
  }

  /**
   * Runs the program once on `input` without transmitting and returns the frame it would send:
   * whatever `input` held, the result is the template of the next flow (checks trap 1).
   */
  rewrite(input: Buffer): Buffer {
    return this.object.program('xdp_bench_gen').testRun({ data: input, repeat: 1 }).data;
  }

  /** Frames generated so far and frames the program could not fill (should stay 0). */
  counters(): { generated: bigint; failed: bigint } {
    const bss = this.object.map(this.object.mapNames().find((n) => n.endsWith('.bss')) ?? '.bss');
    const key = Buffer.alloc(4);
    const value = bss.get(key) ?? Buffer.alloc(16);
    return { generated: value.readBigUInt64LE(0), failed: value.readBigUInt64LE(8) };
  }

  close(): void {
    this.object.close();
  }
}
