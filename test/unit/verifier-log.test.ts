import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trimVerifierLog, verifierComplaint } from '../../src/bpf/index.js';

const log = [
  'func#0 @0',
  ...Array.from({ length: 40 }, (_, i) => `${i}: (b7) r${i % 9} = 0                 ; R0_w=0`),
  '; if (eth->h_proto == 0x0008) @ bad.c:6',
  '40: (71) r2 = *(u8 *)(r1 +12)',
  'invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)',
  'R1 offset is outside of the packet',
  'processed 41 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
  '',
].join('\n');

describe('verifier log trimming', () => {
  it('keeps the failing instruction, its context and the complaint', () => {
    const trimmed = trimVerifierLog(log, 5);
    const lines = trimmed.split('\n');
    assert.match(lines[0] ?? '', /earlier lines omitted/);
    assert.ok(trimmed.includes('40: (71) r2 = *(u8 *)(r1 +12)'));
    assert.ok(trimmed.includes('R1 offset is outside of the packet'));
    assert.ok(!trimmed.includes('0: (b7) r0 = 0 '));
    assert.equal(lines.length, 1 + 5 + 4); // marker, context, instruction + complaint + detail + summary
  });
  it('finds the complaint after the last instruction', () => {
    assert.equal(verifierComplaint(log), 'invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)');
  });
  it('keeps a log without instructions short', () => {
    assert.equal(trimVerifierLog('a\nb\nc', 2), 'b\nc');
  });
});
