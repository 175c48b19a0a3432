/**
 * One definition per struct on each side, checked against each other: the TypeScript codecs
 * must lay out fields exactly as clang did in the built objects (sizes and offsets from the
 * objects' BTF, read with bpftool). Katran keeps such pairs "in sync" by hand; this test does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { StructCodec } from '../../src/bpf/codecs.js';
import { actionStatsCodec, cpumapValueCodec } from '../../src/programs/map-codecs.js';
import { builtinObject } from '../helpers/paths.js';

interface BtfStruct {
  kind: string;
  name: string;
  size: number;
  members: { name: string; bits_offset: number }[];
}

function btfStruct(object: string, name: string): BtfStruct {
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfStruct[] };
  const found = dump.types.find((t) => t.kind === 'STRUCT' && t.name === name);
  assert.ok(found, `struct ${name} is in the BTF of ${object}`);
  return found;
}

/** C member name → codec field name, in declaration order. */
function assertSameLayout(codec: StructCodec<never>, c: BtfStruct, fieldNames: Record<string, string>): void {
  assert.equal(codec.size, c.size, `sizeof(struct ${c.name})`);
  assert.deepEqual(
    c.members.map((m) => [fieldNames[m.name] ?? m.name, m.bits_offset / 8]),
    Object.entries(codec.offsets),
    `offsets of struct ${c.name}`,
  );
}

describe('struct layouts: TypeScript codecs against the objects\' BTF', () => {
  it('struct xdpkit_action_stats (every built-in)', () => {
    for (const program of ['pass', 'drop_udp', 'redirect', 'cpumap', 'reflect']) {
      assertSameLayout(actionStatsCodec as StructCodec<never>, btfStruct(builtinObject(program), 'xdpkit_action_stats'), {});
    }
  });
  it('struct bpf_cpumap_val (cpumap)', () => {
    assertSameLayout(cpumapValueCodec as StructCodec<never>, btfStruct(builtinObject('cpumap'), 'bpf_cpumap_val'), { bpf_prog: 'prog_id' });
  });
});
