/**
 * A minimal synchronous netlink client (route and generic netlink) over libc sockets.
 *
 * Synchronous on purpose: the socket belongs to the network namespace of the thread that
 * creates it, and withNetns() moves only the main JS thread, so the socket must be created and
 * used right there, not on a libuv pool thread. The kernel answers these requests at once;
 * SO_RCVTIMEO bounds the wait should it ever not.
 */
import { endianness } from 'node:os';
import { errorFromErrno, SystemError } from '../bpf/errors.js';
import { AF_NETLINK, calls, errno, SO_RCVTIMEO, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET } from './libc.js';

export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;

const NLMSG_NOOP = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const HEADER = 16;
const RECV_BUFFER = 64 * 1024;
const TIMEOUT_SECONDS = 5;

const LE = endianness() === 'LE';

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the 16-byte nlmsghdr. */
  payload: Buffer;
}

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private fd: number | undefined;

  private constructor(
    fd: number,
    private readonly what: string,
  ) {
    this.fd = fd;
  }

  /** Opens a socket in the calling thread's network namespace. */
  static open(protocol: number): NetlinkSocket {
    const what = protocol === NETLINK_GENERIC ? 'generic netlink' : protocol === NETLINK_ROUTE ? 'route netlink' : `netlink ${protocol}`;
    const fd = calls.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol) as number;
    if (fd < 0) throw errorFromErrno(`opening a ${what} socket`, errno());
    const timeval = Buffer.alloc(16);
    writeU64(timeval, 0, BigInt(TIMEOUT_SECONDS));
    if ((calls.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval, timeval.length) as number) < 0) {
      const code = errno();
      calls.close(fd);
      throw errorFromErrno(`setting a receive timeout on the ${what} socket`, code);
    }
    return new NetlinkSocket(fd, what);
  }

  /**
   * Sends one request and collects the replies: for a dump, every message up to NLMSG_DONE;
   * otherwise the replies before the kernel's acknowledgement (requested with NLM_F_ACK).
   * A negative error in an NLMSG_ERROR becomes an XdpkitError naming `doing`.
   */
  request(type: number, flags: number, payload: Buffer, doing: string): NetlinkMessage[] {
    const fd = this.fdOrThrow();
    const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const message = Buffer.alloc(HEADER + payload.length);
    writeU32(message, 0, message.length);
    writeU16(message, 4, type);
    writeU16(message, 6, flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK));
    writeU32(message, 8, seq);
    payload.copy(message, HEADER);

    const kernel = Buffer.alloc(12);
    writeU16(kernel, 0, AF_NETLINK);
    const sent = Number(calls.sendto(fd, message, message.length, 0, kernel, kernel.length));
    if (sent < 0) throw errorFromErrno(`${doing} (sending to ${this.what})`, errno());

    const replies: NetlinkMessage[] = [];
    const buffer = Buffer.alloc(RECV_BUFFER);
    for (;;) {
      const received = Number(calls.recv(fd, buffer, buffer.length, 0));
      if (received < 0) throw errorFromErrno(`${doing} (waiting for ${this.what})`, errno());
      // Copied: the next recv() reuses `buffer`, and replies must outlive it.
      for (const msg of splitMessages(Buffer.from(buffer.subarray(0, received)))) {
        if (msg.seq !== seq) continue; // a late answer to an earlier request
        if (msg.type === NLMSG_NOOP) continue;
        if (msg.type === NLMSG_DONE) return replies;
        if (msg.type === NLMSG_ERROR) {
          const code = readI32(msg.payload, 0);
          if (code !== 0) throw errorFromErrno(doing, code);
          return replies;
        }
        replies.push(msg);
      }
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    calls.close(this.fd);
    this.fd = undefined;
  }

  private fdOrThrow(): number {
    if (this.fd === undefined) throw new SystemError(`${this.what} socket is closed`);
    return this.fd;
  }
}

/** Opens a socket, runs fn, always closes it. */
export function withNetlink<T>(protocol: number, fn: (socket: NetlinkSocket) => T): T {
  const socket = NetlinkSocket.open(protocol);
  try {
    return fn(socket);
  } finally {
    socket.close();
  }
}

function splitMessages(data: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let pos = 0;
  while (pos + HEADER <= data.length) {
    const length = readU32(data, pos);
    if (length < HEADER || pos + length > data.length) break;
    out.push({ type: readU16(data, pos + 4), flags: readU16(data, pos + 6), seq: readU32(data, pos + 8), payload: data.subarray(pos + HEADER, pos + length) });
    pos += align4(length);
  }
  return out;
}

// Attributes (struct nlattr: u16 length, u16 type, value, padded to 4 bytes).

const NLA_TYPE_MASK = 0x3fff; // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

export function attr(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + value.length));
  writeU16(out, 0, 4 + value.length);
  writeU16(out, 2, type);
  value.copy(out, 4);
  return out;
}

export function u32Attr(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  writeU32(b, 0, value);
  return attr(type, b);
}

export function stringAttr(type: number, value: string): Buffer {
  return attr(type, Buffer.from(`${value}\0`, 'utf8'));
}

/** Attribute type → value (the last one wins when a type repeats). */
export function parseAttrs(data: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let pos = 0;
  while (pos + 4 <= data.length) {
    const length = readU16(data, pos);
    if (length < 4 || pos + length > data.length) break;
    out.set(readU16(data, pos + 2) & NLA_TYPE_MASK, data.subarray(pos + 4, pos + length));
    pos += align4(length);
  }
  return out;
}

export function attrString(value: Buffer | undefined): string | undefined {
  if (!value) return undefined;
  const nul = value.indexOf(0);
  return value.subarray(0, nul < 0 ? value.length : nul).toString('utf8');
}

export function attrU8(value: Buffer | undefined): number | undefined {
  return value && value.length >= 1 ? value[0] : undefined;
}

export function attrU16(value: Buffer | undefined): number | undefined {
  return value && value.length >= 2 ? readU16(value, 0) : undefined;
}

export function attrU32(value: Buffer | undefined): number | undefined {
  return value && value.length >= 4 ? readU32(value, 0) : undefined;
}

export function attrU64(value: Buffer | undefined): bigint | undefined {
  return value && value.length >= 8 ? (LE ? value.readBigUInt64LE(0) : value.readBigUInt64BE(0)) : undefined;
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

// Host byte order, as netlink uses.
export function readU16(b: Buffer, o: number): number {
  return LE ? b.readUInt16LE(o) : b.readUInt16BE(o);
}
export function readU32(b: Buffer, o: number): number {
  return LE ? b.readUInt32LE(o) : b.readUInt32BE(o);
}
export function readI32(b: Buffer, o: number): number {
  return LE ? b.readInt32LE(o) : b.readInt32BE(o);
}
export function writeU16(b: Buffer, o: number, v: number): void {
  if (LE) b.writeUInt16LE(v, o);
  else b.writeUInt16BE(v, o);
}
export function writeU32(b: Buffer, o: number, v: number): void {
  if (LE) b.writeUInt32LE(v >>> 0, o);
  else b.writeUInt32BE(v >>> 0, o);
}
export function writeI32(b: Buffer, o: number, v: number): void {
  if (LE) b.writeInt32LE(v, o);
  else b.writeInt32BE(v, o);
}
function writeU64(b: Buffer, o: number, v: bigint): void {
  if (LE) b.writeBigUInt64LE(v, o);
  else b.writeBigUInt64BE(v, o);
}
