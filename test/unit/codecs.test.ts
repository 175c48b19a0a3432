import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  array,
  bytes,
  cstring,
  encodeValue,
  hex,
  i32,
  InvalidArgumentError,
  ipv4,
  ipv6,
  lpmIpv4,
  lpmIpv6,
  mac,
  struct,
  u16,
  u16be,
  u32,
  u64,
  u8,
  sumValues,
} from '../../src/bpf/index.js';

describe('integer codecs', () => {
  it('encode little-endian and network order', () => {
    assert.deepEqual([...encodeValue(u32, 0x01020304)], [4, 3, 2, 1]);
    assert.deepEqual([...encodeValue(u16be, 53)], [0, 53]);
    assert.deepEqual([...encodeValue(u16, 53)], [53, 0]);
    assert.equal(i32.decode(encodeValue(i32, -5), 0), -5);
    assert.equal(u64.decode(encodeValue(u64, 2n ** 63n + 1n), 0), 2n ** 63n + 1n);
  });
  it('reject values out of range with the range in the message', () => {
    assert.throws(() => encodeValue(u8, 256), /256 is not a valid u8 \(range 0\.\.255\)/);
    assert.throws(() => encodeValue(u32, -1), InvalidArgumentError);
    assert.throws(() => encodeValue(u32, 1.5), InvalidArgumentError);
    assert.throws(() => encodeValue(u64, -1n), InvalidArgumentError);
  });
});

describe('address codecs', () => {
  it('round-trip IPv4, IPv6 and MAC', () => {
    assert.deepEqual([...encodeValue(ipv4, '198.18.0.1')], [198, 18, 0, 1]);
    assert.equal(ipv4.decode(encodeValue(ipv4, '198.18.0.1'), 0), '198.18.0.1');
    assert.equal(ipv6.decode(encodeValue(ipv6, '2001:db8::1'), 0), '2001:db8::1');
    assert.equal(mac.decode(encodeValue(mac, '02:00:00:aa:BB:cc'), 0), '02:00:00:aa:bb:cc');
  });
  it('refuse the wrong family and malformed text', () => {
    assert.throws(() => encodeValue(ipv4, '2001:db8::1'), /is IPv6, expected IPv4/);
    assert.throws(() => encodeValue(ipv6, '198.18.0.1'), /is IPv4, expected IPv6/);
    assert.throws(() => encodeValue(ipv4, '300.1.1.1'), /not an IP address/);
    assert.throws(() => encodeValue(mac, '02:00'), /not a MAC address/);
  });
  it('encode LPM keys as prefixlen + address', () => {
    assert.deepEqual([...encodeValue(lpmIpv4, '198.18.0.0/15')], [15, 0, 0, 0, 198, 18, 0, 0]);
    assert.equal(lpmIpv4.decode(encodeValue(lpmIpv4, '198.18.7.1'), 0), '198.18.7.1/32');
    assert.equal(lpmIpv6.size, 20);
    assert.equal(lpmIpv6.decode(encodeValue(lpmIpv6, '2001:db8::/32'), 0), '2001:db8::/32');
    assert.throws(() => encodeValue(lpmIpv4, '198.18.0.0/33'), /invalid prefix length/);
    assert.throws(() => encodeValue(lpmIpv4, '198.18.0.0/'), /invalid prefix length/);
  });
});

describe('byte codecs', () => {
  it('pad bytes and strings, refuse overflow', () => {
    assert.deepEqual([...encodeValue(bytes(4), Buffer.from([1, 2]))], [1, 2, 0, 0]);
    assert.throws(() => encodeValue(bytes(2), Buffer.from([1, 2, 3])), /3 bytes do not fit in 2/);
    assert.equal(cstring(16).decode(encodeValue(cstring(16), 'veth0'), 0), 'veth0');
    assert.throws(() => encodeValue(cstring(4), 'toolong'), /longer than 3 bytes/);
  });
  it('read and write hex text', () => {
    assert.equal(hex(4).decode(encodeValue(hex(4), '0a 00 00 01'), 0), '0a 00 00 01');
    assert.equal(hex(2).decode(encodeValue(hex(2), '0xbeef'), 0), 'be ef');
    assert.throws(() => encodeValue(hex(2), 'zz'), /not hex bytes/);
    assert.throws(() => encodeValue(hex(2), 'aabbcc'), /3 bytes, expected 2/);
  });
});

describe('struct codec', () => {
  it('lays fields out with C alignment', () => {
    const s = struct({ a: u8, b: u32, c: u16, d: u64 });
    assert.deepEqual(s.offsets, { a: 0, b: 4, c: 8, d: 16 });
    assert.equal(s.size, 24);
    assert.equal(s.align, 8);
    const value = { a: 1, b: 2, c: 3, d: 4n };
    assert.deepEqual(s.decode(encodeValue(s, value), 0), value);
  });
  it('rounds the size up to the largest alignment and nests', () => {
    const inner = struct({ x: u32, y: u8 });
    assert.equal(inner.size, 8);
    const outer = struct({ flag: u8, inner, list: array(u16, 3) });
    assert.deepEqual(outer.offsets, { flag: 0, inner: 4, list: 12 });
    assert.equal(outer.size, 20);
    const v = { flag: 1, inner: { x: 7, y: 9 }, list: [1, 2, 3] };
    assert.deepEqual(outer.decode(encodeValue(outer, v), 0), v);
  });
  it('names a missing field', () => {
    const s = struct({ packets: u64, bytes: u64 });
    assert.throws(() => encodeValue(s, { packets: 1n } as never), /field "bytes" is missing/);
  });
});

describe('sumValues', () => {
  it('adds per-CPU structs field by field', () => {
    assert.deepEqual(
      sumValues([
        { packets: 1n, bytes: 10n },
        { packets: 2n, bytes: 20n },
      ]),
      { packets: 3n, bytes: 30n },
    );
    assert.equal(sumValues([1, 2, 3]), 6);
  });
});
