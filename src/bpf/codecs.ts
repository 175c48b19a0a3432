/**
 * Codecs turn map keys and values into the exact bytes the kernel expects and back.
 * A struct codec lays its fields out with C alignment rules, so one TypeScript description
 * matches the C struct; tests compare sizes and offsets against the objects' BTF.
 */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from './errors.js';

export interface Codec<T> {
  /** Size in bytes of the encoded value. */
  readonly size: number;
  /** Alignment in bytes, used when the codec is a struct field. */
  readonly align: number;
  encode(value: T, target: Buffer, offset: number): void;
  decode(source: Buffer, offset: number): T;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

/** Encodes one value into a new buffer of the codec's size. */
export function encodeValue<T>(codec: Codec<T>, value: T): Buffer {
  const buf = Buffer.alloc(codec.size);
  codec.encode(value, buf, 0);
  return buf;
}

function integer(
  size: 1 | 2 | 4,
  signed: boolean,
  bigEndian = false,
): Codec<number> {
  const min = signed ? -(2 ** (size * 8 - 1)) : 0;
  const max = signed ? 2 ** (size * 8 - 1) - 1 : 2 ** (size * 8) - 1;
  const kind = `${signed ? 'i' : 'u'}${size * 8}${bigEndian ? 'be' : ''}`;
  return {
    size,
    align: size,
    encode(value, target, offset) {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new InvalidArgumentError(`${value} is not a valid ${kind} (range ${min}..${max})`);
      }
      if (signed) bigEndian ? target.writeIntBE(value, offset, size) : target.writeIntLE(value, offset, size);
      else bigEndian ? target.writeUIntBE(value, offset, size) : target.writeUIntLE(value, offset, size);
    },
    decode(source, offset) {
      if (signed) return bigEndian ? source.readIntBE(offset, size) : source.readIntLE(offset, size);
      return bigEndian ? source.readUIntBE(offset, size) : source.readUIntLE(offset, size);
    },
  };
}

function integer64(signed: boolean): Codec<bigint> {
  return {
    size: 8,
    align: 8,
    encode(value, target, offset) {
      const v = BigInt(value);
      if (signed) target.writeBigInt64LE(v, offset);
      else {
        if (v < 0n || v > 0xffffffffffffffffn) throw new InvalidArgumentError(`${value} is not a valid u64`);
        target.writeBigUInt64LE(v, offset);
      }
    },
    decode(source, offset) {
      return signed ? source.readBigInt64LE(offset) : source.readBigUInt64LE(offset);
    },
  };
}

export const u8 = integer(1, false);
export const u16 = integer(2, false);
export const u32 = integer(4, false);
export const i32 = integer(4, true);
export const u64 = integer64(false);
export const i64 = integer64(true);
/** A 16-bit value in network byte order (a port as the packet carries it). */
export const u16be = integer(2, false, true);
/** A 32-bit value in network byte order. */
export const u32be = integer(4, false, true);

/** Fixed-size raw bytes; shorter input is zero-padded, longer input is an error. */
export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    align: 1,
    encode(value, target, offset) {
      if (value.length > size) throw new InvalidArgumentError(`${value.length} bytes do not fit in ${size}`);
      target.fill(0, offset, offset + size);
      value.copy(target, offset);
    },
    decode(source, offset) {
      return Buffer.from(source.subarray(offset, offset + size));
    },
  };
}

/** Fixed-size bytes shown and given as a hex string ("0a 00 00 01" or "0a000001"). */
export function hex(size: number): Codec<string> {
  const raw = bytes(size);
  return {
    size,
    align: 1,
    encode(value, target, offset) {
      const clean = value.replace(/^0x/i, '').replace(/[\s:]/g, '');
      if (!/^([0-9a-f]{2})*$/i.test(clean)) {
        throw new InvalidArgumentError(`"${value}" is not hex bytes`, { hint: 'write bytes as hex, e.g. "0a 00 00 01"' });
      }
      if (clean.length / 2 !== size) {
        throw new InvalidArgumentError(`"${value}" is ${clean.length / 2} bytes, expected ${size}`);
      }
      raw.encode(Buffer.from(clean, 'hex'), target, offset);
    },
    decode(source, offset) {
      return [...raw.decode(source, offset)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    },
  };
}

/** NUL-padded string in a fixed-size char array (e.g. an interface name). */
export function cstring(size: number): Codec<string> {
  return {
    size,
    align: 1,
    encode(value, target, offset) {
      const b = Buffer.from(value, 'utf8');
      if (b.length >= size) throw new InvalidArgumentError(`"${value}" is longer than ${size - 1} bytes`);
      target.fill(0, offset, offset + size);
      b.copy(target, offset);
    },
    decode(source, offset) {
      const s = source.subarray(offset, offset + size);
      const end = s.indexOf(0);
      return s.subarray(0, end < 0 ? size : end).toString('utf8');
    },
  };
}

function parseAddress(value: string, kind: 'ipv4' | 'ipv6'): number[] {
  if (!ipaddr.isValid(value)) throw new InvalidArgumentError(`"${value}" is not an IP address`);
  const addr = ipaddr.parse(value);
  if (addr.kind() !== kind) {
    throw new InvalidArgumentError(`"${value}" is ${addr.kind() === 'ipv4' ? 'IPv4' : 'IPv6'}, expected ${kind === 'ipv4' ? 'IPv4' : 'IPv6'}`);
  }
  return addr.toByteArray();
}

/** IPv4 address in network byte order, as a dotted string. */
export const ipv4: Codec<string> = {
  size: 4,
  align: 4,
  encode(value, target, offset) {
    Buffer.from(parseAddress(value, 'ipv4')).copy(target, offset);
  },
  decode(source, offset) {
    return [...source.subarray(offset, offset + 4)].join('.');
  },
};

/** IPv6 address in network byte order, as a compressed string. */
export const ipv6: Codec<string> = {
  size: 16,
  align: 4,
  encode(value, target, offset) {
    Buffer.from(parseAddress(value, 'ipv6')).copy(target, offset);
  },
  decode(source, offset) {
    return ipaddr.fromByteArray([...source.subarray(offset, offset + 16)]).toString();
  },
};

/** Ethernet address as "aa:bb:cc:dd:ee:ff". */
export const mac: Codec<string> = {
  size: 6,
  align: 1,
  encode(value, target, offset) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(value)) {
      throw new InvalidArgumentError(`"${value}" is not a MAC address`, { hint: 'write it as aa:bb:cc:dd:ee:ff' });
    }
    Buffer.from(value.replace(/:/g, ''), 'hex').copy(target, offset);
  },
  decode(source, offset) {
    return [...source.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  },
};

/**
 * Key of a BPF_MAP_TYPE_LPM_TRIE: struct { __u32 prefixlen; __u8 addr[4 or 16]; },
 * given and shown as CIDR text ("198.18.0.0/15"). A bare address means a host prefix.
 */
export function lpmKey(family: 'ipv4' | 'ipv6'): Codec<string> {
  const addrSize = family === 'ipv4' ? 4 : 16;
  const addr = family === 'ipv4' ? ipv4 : ipv6;
  return {
    size: 4 + addrSize,
    align: 4,
    encode(value, target, offset) {
      const [address = '', lengthText] = value.split('/');
      const prefix = lengthText === undefined ? addrSize * 8 : Number(lengthText);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > addrSize * 8 || lengthText === '') {
        throw new InvalidArgumentError(`"${value}" has an invalid prefix length (0..${addrSize * 8})`);
      }
      target.writeUInt32LE(prefix, offset);
      addr.encode(address, target, offset + 4);
    },
    decode(source, offset) {
      return `${addr.decode(source, offset + 4)}/${source.readUInt32LE(offset)}`;
    },
  };
}
export const lpmIpv4 = lpmKey('ipv4');
export const lpmIpv6 = lpmKey('ipv6');

type StructFields = Record<string, Codec<unknown>>;
export type StructValue<F extends StructFields> = { [K in keyof F]: CodecValue<F[K]> };

export interface StructCodec<F extends StructFields> extends Codec<StructValue<F>> {
  /** Byte offset of each field, as a C compiler would place it. */
  readonly offsets: { [K in keyof F]: number };
}

/** A C struct: fields in declaration order, each aligned to its own alignment, size rounded up. */
export function struct<F extends StructFields>(fields: F): StructCodec<F> {
  const offsets = {} as { [K in keyof F]: number };
  let size = 0;
  let align = 1;
  for (const [name, codec] of Object.entries(fields) as [keyof F, Codec<unknown>][]) {
    size = Math.ceil(size / codec.align) * codec.align;
    offsets[name] = size;
    size += codec.size;
    align = Math.max(align, codec.align);
  }
  size = Math.ceil(size / align) * align;
  const entries = Object.entries(fields) as [keyof F & string, Codec<unknown>][];
  return {
    size,
    align,
    offsets,
    encode(value, target, offset) {
      target.fill(0, offset, offset + size);
      for (const [name, codec] of entries) {
        if (value[name] === undefined) throw new InvalidArgumentError(`field "${name}" is missing`);
        codec.encode(value[name], target, offset + offsets[name]);
      }
    },
    decode(source, offset) {
      const out = {} as StructValue<F>;
      for (const [name, codec] of entries) out[name] = codec.decode(source, offset + offsets[name]) as StructValue<F>[typeof name];
      return out;
    },
  };
}

/** A fixed-length C array of one codec. */
export function array<T>(element: Codec<T>, length: number): Codec<T[]> {
  return {
    size: element.size * length,
    align: element.align,
    encode(value, target, offset) {
      if (value.length !== length) throw new InvalidArgumentError(`expected ${length} elements, got ${value.length}`);
      value.forEach((v, i) => element.encode(v, target, offset + i * element.size));
    },
    decode(source, offset) {
      return Array.from({ length }, (_, i) => element.decode(source, offset + i * element.size));
    },
  };
}
