/**
 * The libbpf binding against the real kernel: objects, constants, maps of several types,
 * batch operations, per-CPU values, pins, test runs, ring buffers and verifier errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  BpfMap,
  BpfObject,
  BusyError,
  InvalidArgumentError,
  lpmIpv4,
  MapFullError,
  NotFoundError,
  openPinnedFd,
  possibleCpuCount,
  removeEmptyPinDirs,
  RingBufferConsumer,
  u32,
  u64,
  VerifierError,
  XDPKIT_PIN_ROOT,
  xdpContext,
} from '../../src/bpf/index.js';
import { fixture } from '../helpers/paths.js';

const packet = (length: number): Buffer => {
  const p = Buffer.alloc(length);
  p.writeUInt16BE(0x0800, 12);
  return p;
};

describe('BpfObject', () => {
  const objects: BpfObject[] = [];
  const open = (source: string | Buffer, name?: string): BpfObject => {
    const o = BpfObject.open(source, name ? { name } : {});
    objects.push(o);
    return o;
  };
  after(() => objects.forEach((o) => o.close()));

  it('opens from a path and from a buffer, listing programs and sections', () => {
    const fromPath = open(fixture('kernel', 'events'));
    const fromBuffer = open(readFileSync(fixture('kernel', 'events')), 'events_mem');
    for (const o of [fromPath, fromBuffer]) {
      assert.deepEqual(o.sections(), ['xdp']);
      assert.equal(o.program('xdp_events').name, 'xdp_events');
      assert.equal(o.program('xdp').name, 'xdp_events');
    }
    assert.equal(fromBuffer.name, 'events_mem');
  });

  it('names the sections when a program is missing', () => {
    const o = open(fixture('kernel', 'events'));
    assert.throws(
      () => o.program('xdp_drop'),
      (e: unknown) => e instanceof NotFoundError && /no program or section named "xdp_drop"/.test(e.message) && /section xdp/.test(e.details ?? ''),
    );
  });

  it('reports a missing file and a non-ELF file clearly', () => {
    assert.throws(() => BpfObject.open('/nonexistent/prog.o'), (e: unknown) => e instanceof NotFoundError && /does not exist/.test(e.message));
    assert.throws(() => BpfObject.open(Buffer.from('not an elf file at all')), /cannot open .* as a BPF object/);
    assert.throws(() => BpfObject.open('/tmp'), (e: unknown) => e instanceof InvalidArgumentError && /is a directory, not a BPF object file/.test(e.message));
  });

  it('sets .rodata constants before load and they change what the program does', () => {
    const o = open(fixture('kernel', 'events'));
    o.setConstants({ marker: 42, verdict: 1, big: 2n ** 40n });
    assert.deepEqual(o.constants().marker, Buffer.from([42, 0, 0, 0]));
    o.load();
    const result = o.program('xdp_events').testRun({ data: packet(64) });
    assert.equal(result.retval, 1, 'verdict constant makes the program drop');
  });

  it('refuses unknown constants and values that do not fit', () => {
    const o = open(fixture('kernel', 'events'));
    assert.throws(() => o.setConstants({ nope: 1 }), (e: unknown) => e instanceof NotFoundError && /marker \(4 bytes\)/.test(e.details ?? ''));
    assert.throws(() => o.setConstants({ verdict: 256 }), /cannot hold 256/);
    o.load();
    assert.throws(() => o.setConstants({ marker: 1 }), /before the object is loaded/);
  });

  it('loads a legacy section name as XDP and rejects an unbounded read with the trimmed log', () => {
    const o = open(fixture('kernel', 'unbounded'));
    assert.equal(o.program('xdp_unbounded').name, 'xdp_unbounded_prog');
    assert.throws(
      () => o.load(),
      (e: unknown) =>
        e instanceof VerifierError &&
        /invalid access to packet/.test(e.message) &&
        /\(71\) r\d = \*\(u8 \*\)/.test(e.details ?? '') &&
        e.log.length >= (e.details ?? '').length - 50,
    );
  });

  it('captures the verifier log of a successful load when asked', () => {
    const o = open(fixture('kernel', 'events'));
    o.load({ logLevel: 2 });
    assert.match(o.program('xdp_events').verifierLog, /processed \d+ insns/);
  });
});

describe('test runs', () => {
  const o = BpfObject.open(fixture('kernel', 'events'));
  o.load();
  after(() => o.close());
  const prog = o.program('xdp_events');

  it('returns verdict, output data, context and duration', () => {
    const input = packet(80);
    input[20] = 0xab;
    const r = prog.testRun({ data: input, context: xdpContext(80, { rxQueue: 0 }), repeat: 100 });
    assert.equal(r.retval, 2);
    assert.deepEqual(r.data, input);
    assert.equal(r.context?.length, 24);
    assert.equal(r.context?.readUInt32LE(4), 80, 'data_end in the returned context');
    assert.ok(r.durationNs >= 0);
  });

  it('refuses a packet shorter than an Ethernet header with a hint', () => {
    assert.throws(() => prog.testRun({ data: Buffer.alloc(4) }), (e: unknown) => e instanceof InvalidArgumentError && /14 bytes/.test(e.hint ?? ''));
  });
});

describe('maps', () => {
  const o = BpfObject.open(fixture('kernel', 'events'));
  o.load();
  after(() => o.close());

  it('checks codec sizes against the map and names the mismatch', () => {
    assert.throws(() => o.map('small_hash').withCodecs(u32, u32), /value is 8 bytes but the value codec encodes 4/);
  });

  it('gets, sets with flags, deletes and iterates a hash map', () => {
    const m = o.map('small_hash').withCodecs(u32, u64);
    assert.equal(m.get(1), undefined);
    m.set(1, 10n);
    m.set(2, 20n, 'noexist');
    assert.throws(() => m.set(2, 21n, 'noexist'), BusyError);
    assert.throws(() => m.set(3, 30n, 'exist'), NotFoundError);
    m.set(2, 22n, 'exist');
    assert.deepEqual(new Map(m.entries()), new Map([[1, 10n], [2, 22n]]));
    assert.equal(m.delete(1), true);
    assert.equal(m.delete(1), false);
    assert.deepEqual([...m.keys()], [2]);
    m.clear();
    assert.deepEqual([...m.keys()], []);
  });

  it('says a full map is full', () => {
    const m = o.map('small_hash').withCodecs(u32, u64);
    for (let i = 0; i < 4; i++) m.set(i, BigInt(i));
    assert.throws(() => m.set(99, 1n), (e: unknown) => e instanceof MapFullError && /full \(4 entries\)/.test(e.message));
    m.clear();
  });

  it('writes, reads and deletes in batches', () => {
    const m = o.map('small_hash').withCodecs(u32, u64);
    m.setMany([[1, 100n], [2, 200n], [3, 300n]]);
    const all = m.readAll(1).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(all, [[1, 100n], [2, 200n], [3, 300n]]);
    m.deleteMany([1, 3]);
    assert.deepEqual(m.readAll(), [[2, 200n]]);
    m.clear();
  });

  it('reads per-CPU values per CPU and summed, after real program runs', () => {
    const m = o.map('percpu_hash').withCodecs(u32, u64);
    assert.throws(() => m.get(0), /per-CPU/);
    const zero = Array.from({ length: possibleCpuCount() }, () => 0n);
    m.setPerCpu(0, zero);
    o.program('xdp_events').testRun({ data: packet(64), repeat: 5 });
    const values = m.getPerCpu(0);
    assert.equal(values?.length, possibleCpuCount());
    assert.equal(m.getSummed(0), 5n);
  });

  it('stores LPM prefixes with the LPM codec', () => {
    const m = o.map('prefixes').withCodecs(lpmIpv4, u32);
    m.set('198.18.0.0/15', 1);
    m.set('198.19.255.0/24', 2);
    assert.equal(m.get('198.18.0.0/15'), 1);
    assert.deepEqual(new Set(m.keys()), new Set(['198.18.0.0/15', '198.19.255.0/24']));
    m.clear();
  });

  it('creates a map, pins it, opens the pin and unpins it', () => {
    const path = `${XDPKIT_PIN_ROOT}/test-${process.pid}/counts`;
    const created = BpfMap.create({ type: 'array', name: 'xdpkit_test', key: u32, value: u64, maxEntries: 8 });
    try {
      created.set(3, 33n);
      created.pin(path);
      const reopened = BpfMap.openPinned(path).withCodecs(u32, u64);
      assert.equal(reopened.get(3), 33n);
      assert.equal(reopened.description.maxEntries, 8);
      assert.throws(() => reopened.delete(3), /array: its entries cannot be deleted/);
      assert.throws(() => reopened.set(8, 1n), /index out of range \(0\.\.7\)/);
    } finally {
      created.unpin(path);
      created.close();
      removeEmptyPinDirs(dirname(path));
    }
    assert.throws(() => openPinnedFd(path, 'map'), NotFoundError);
  });
});

describe('ring buffer', () => {
  it('delivers one sample per program run through the event loop', async () => {
    const o = BpfObject.open(fixture('kernel', 'events'));
    o.setConstants({ marker: 9 });
    o.load();
    const samples: Buffer[] = [];
    const consumer = new RingBufferConsumer(o.map('events'), (s) => samples.push(s));
    try {
      o.program('xdp_events').testRun({ data: packet(70), repeat: 3 });
      const deadline = Date.now() + 2000;
      while (samples.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(samples.length, 3);
      assert.deepEqual(samples.map((s) => [s.readUInt32LE(0), s.readUInt32LE(4)]), [[9, 70], [9, 70], [9, 70]]);
    } finally {
      consumer.close();
      o.close();
    }
  });

  it('refuses a map that is not a ring buffer', () => {
    const o = BpfObject.open(fixture('kernel', 'events'));
    o.load();
    try {
      assert.throws(() => new RingBufferConsumer(o.map('small_hash'), () => {}), /not a ringbuf/);
    } finally {
      o.close();
    }
  });
});
