/**
 * One definition per struct on each side, checked against each other: the TypeScript codecs
 * must lay out fields exactly as clang did in the built objects (sizes and offsets from the
 * objects' BTF, read with bpftool). Katran keeps such pairs "in sync" by hand; this test does.
 */
import { describe, it } from 'node:test';
import type { StructCodec } from '../../src/bpf/codecs.js';
import { actionStatsCodec, cpumapValueCodec } from '../../src/programs/map-codecs.js';
import { assertSameLayout, btfStruct } from '../helpers/btf.js';
import { builtinObject } from '../helpers/paths.js';

describe('struct layouts: TypeScript codecs against the objects\' BTF', () => {
  it('struct xdpkit_action_stats (every built-in)', () => {
    for (const program of ['pass', 'drop_udp', 'redirect', 'cpumap', 'reflect']) {
      assertSameLayout(actionStatsCodec as StructCodec<never>, btfStruct(builtinObject(program), 'xdpkit_action_stats'));
    }
  });
  it('struct bpf_cpumap_val (cpumap)', () => {
    assertSameLayout(cpumapValueCodec as StructCodec<never>, btfStruct(builtinObject('cpumap'), 'bpf_cpumap_val'), { bpf_prog: 'prog_id' });
  });
});
