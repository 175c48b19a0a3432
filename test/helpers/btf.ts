/**
 * Struct layouts from an object's BTF (bpftool), to check TypeScript codecs against the C
 * definitions: sizes and member offsets, so that the two sides cannot drift apart unnoticed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { StructCodec } from '../../src/bpf/codecs.js';

export interface BtfStruct {
  kind: string;
  name: string;
  size: number;
  members: { name: string; bits_offset: number }[];
}

const dumps = new Map<string, BtfStruct[]>();

/** The struct `name` in the BTF of `object` (fails the test when it is not there). */
export function btfStruct(object: string, name: string): BtfStruct {
  let types = dumps.get(object);
  if (!types) {
    types = (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfStruct[] }).types;
    dumps.set(object, types);
  }
  const found = types.find((t) => t.kind === 'STRUCT' && t.name === name);
  assert.ok(found, `struct ${name} is in the BTF of ${object}`);
  return found;
}

/** The codec has the C struct's size and, member by member in order, its offsets
 *  (`fieldNames` maps a C member name to the codec's field name where they differ). */
export function assertSameLayout(codec: StructCodec<never>, c: BtfStruct, fieldNames: Record<string, string> = {}): void {
  assert.equal(codec.size, c.size, `sizeof(struct ${c.name})`);
  assert.deepEqual(
    c.members.map((m) => [fieldNames[m.name] ?? m.name, m.bits_offset / 8]),
    Object.entries(codec.offsets),
    `offsets of struct ${c.name}`,
  );
}
