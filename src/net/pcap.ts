/**
 * Classic pcap files (not pcapng): what `tcpdump -w` writes and every tool reads.
 * Reading accepts both byte orders and both timestamp resolutions (the magic number tells);
 * writing is little-endian, microseconds unless asked for nanoseconds, LINKTYPE_ETHERNET unless
 * told otherwise. A record cut short at the end of a file (tcpdump killed mid-write) is reported,
 * not thrown, so a capture stopped abruptly still yields the packets before it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { InvalidArgumentError, SystemError } from '../bpf/errors.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export interface PcapHeader {
  /** Link type of every record (1 = Ethernet). */
  linkType: number;
  snaplen: number;
  /** Timestamps' fraction is in nanoseconds (else microseconds). */
  nanosecond: boolean;
  /** Byte order the file was written in. */
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
}

export interface PcapRecord {
  /** Capture time in nanoseconds since the epoch (exact for both resolutions). */
  timestampNs: bigint;
  /** The captured bytes (at most snaplen). */
  data: Buffer;
  /** Length of the packet on the wire; larger than data.length when the snaplen cut it. */
  originalLength: number;
}

export interface PcapFile extends PcapHeader {
  records: PcapRecord[];
  /** The file ends inside a record (header or data); the partial record is not in `records`. */
  truncated: boolean;
}

/** Parses a whole pcap file held in memory. */
export function readPcap(data: Uint8Array): PcapFile {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < GLOBAL_HEADER) {
    throw new InvalidArgumentError(`not a pcap file: ${buf.length} bytes, the header alone is ${GLOBAL_HEADER}`);
  }
  const header = readHeader(buf);
  const u32 = header.littleEndian ? (o: number) => buf.readUInt32LE(o) : (o: number) => buf.readUInt32BE(o);
  const records: PcapRecord[] = [];
  let pos = GLOBAL_HEADER;
  let truncated = false;
  while (pos < buf.length) {
    if (buf.length - pos < RECORD_HEADER) {
      truncated = true;
      break;
    }
    const seconds = u32(pos);
    const fraction = u32(pos + 4);
    const capturedLength = u32(pos + 8);
    const originalLength = u32(pos + 12);
    if (pos + RECORD_HEADER + capturedLength > buf.length) {
      truncated = true;
      break;
    }
    const start = pos + RECORD_HEADER;
    records.push({
      timestampNs: BigInt(seconds) * 1_000_000_000n + BigInt(fraction) * (header.nanosecond ? 1n : 1000n),
      data: buf.subarray(start, start + capturedLength),
      originalLength,
    });
    pos = start + capturedLength;
  }
  return { ...header, records, truncated };
}

function readHeader(buf: Buffer): PcapHeader {
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (le === MAGIC_MICRO || le === MAGIC_NANO) {
    littleEndian = true;
    nanosecond = le === MAGIC_NANO;
  } else if (be === MAGIC_MICRO || be === MAGIC_NANO) {
    littleEndian = false;
    nanosecond = be === MAGIC_NANO;
  } else {
    throw new InvalidArgumentError(`not a classic pcap file: magic 0x${be.toString(16).padStart(8, '0')}`, {
      hint: be === 0x0a0d0d0a ? 'this is pcapng: write classic pcap (tcpdump -w does; tshark/dumpcap need -F pcap)' : undefined,
    });
  }
  const u16 = (o: number) => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  return {
    versionMajor: u16(4),
    versionMinor: u16(6),
    snaplen: u32(16),
    // The top bits of the link-type field carry FCS information, not the type.
    linkType: u32(20) & 0x0fffffff,
    nanosecond,
    littleEndian,
  };
}

export interface PcapWriteOptions {
  linkType?: number;
  snaplen?: number;
  nanosecond?: boolean;
}

export interface PcapPacket {
  data: Uint8Array;
  /** Defaults to the current time. */
  timestampNs?: bigint;
  /** Defaults to data.length (before any snaplen cut). */
  originalLength?: number;
}

/** The 24-byte global header, little-endian. */
export function pcapHeader(options: PcapWriteOptions = {}): Buffer {
  const b = Buffer.alloc(GLOBAL_HEADER);
  b.writeUInt32LE(options.nanosecond ? MAGIC_NANO : MAGIC_MICRO, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  // thiszone and sigfigs stay 0, as every modern writer leaves them.
  b.writeUInt32LE(options.snaplen ?? 262144, 16);
  b.writeUInt32LE(options.linkType ?? LINKTYPE_ETHERNET, 20);
  return b;
}

/** One record (header + data, data cut to the snaplen). */
export function pcapRecord(packet: PcapPacket, options: PcapWriteOptions = {}): Buffer {
  const snaplen = options.snaplen ?? 262144;
  const data = packet.data.subarray(0, snaplen);
  const ns = packet.timestampNs ?? nowNs();
  const seconds = ns / 1_000_000_000n;
  const fraction = options.nanosecond ? ns % 1_000_000_000n : (ns % 1_000_000_000n) / 1000n;
  const b = Buffer.alloc(RECORD_HEADER + data.length);
  b.writeUInt32LE(Number(seconds & 0xffffffffn), 0);
  b.writeUInt32LE(Number(fraction), 4);
  b.writeUInt32LE(data.length, 8);
  b.writeUInt32LE(packet.originalLength ?? packet.data.length, 12);
  b.set(data, RECORD_HEADER);
  return b;
}

/** A whole pcap file in memory. */
export function writePcap(packets: Iterable<PcapPacket>, options: PcapWriteOptions = {}): Buffer {
  const parts = [pcapHeader(options)];
  for (const packet of packets) parts.push(pcapRecord(packet, options));
  return Buffer.concat(parts);
}

function nowNs(): bigint {
  // Wall clock at µs resolution, as a capture would stamp it.
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Streams records to a file as they come: nothing is buffered in memory, so a crash leaves a
 * readable file with every packet written so far. Writes are synchronous (small and rare).
 */
export class PcapWriter {
  private fd: number | undefined;
  private count = 0;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly options: PcapWriteOptions,
  ) {
    this.fd = fd;
  }

  static open(path: string, options: PcapWriteOptions = {}): PcapWriter {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (cause) {
      throw new SystemError(`opening ${path} for a pcap capture: ${(cause as Error).message}`, { cause });
    }
    const writer = new PcapWriter(path, fd, options);
    writer.raw(pcapHeader(options));
    return writer;
  }

  write(packet: PcapPacket): void {
    this.raw(pcapRecord(packet, this.options));
    this.count++;
  }

  /** Records written so far. */
  get written(): number {
    return this.count;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private raw(bytes: Buffer): void {
    if (this.fd === undefined) throw new InvalidArgumentError(`pcap writer for ${this.path} is closed`);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }
}
