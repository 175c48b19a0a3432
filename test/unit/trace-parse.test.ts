import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceLine } from '../../src/observe/trace.js';
import { tracefsCandidates } from '../../src/observe/tracefs.js';

describe('parseTraceLine', () => {
  it('parses a bpf_printk line (kernel 6.18 layout)', () => {
    assert.deepEqual(parseTraceLine('         bpftool-5917    [001] b..11  1031.834989: bpf_trace_printk: xdpkit-marker len=64'), {
      task: 'bpftool',
      pid: 5917,
      cpu: 1,
      flags: 'b..11',
      timestamp: 1031.834989,
      event: 'bpf_trace_printk',
      message: 'xdpkit-marker len=64',
    });
  });
  it('keeps dashes, digits and colons that belong to the task name or the message', () => {
    const event = parseTraceLine(' kworker/u4:1-12-345  [000] d.s2.   99.000001: bpf_trace_printk: a: b: c');
    assert.equal(event.task, 'kworker/u4:1-12');
    assert.equal(event.pid, 345);
    assert.equal(event.message, 'a: b: c');
  });
  it('handles the idle task, the tgid column and lines without flags', () => {
    assert.equal(parseTraceLine('          <idle>-0       [003] ..s2.  5.5: bpf_trace_printk: x').task, '<idle>');
    const tgid = parseTraceLine('            ping-1234    (   1234) [000] ..s21  7.25: bpf_trace_printk: y');
    assert.equal(tgid.pid, 1234);
    assert.equal(tgid.message, 'y');
    const bare = parseTraceLine('            ping-1234    [000] 7.25: bpf_trace_printk: z');
    assert.equal(bare.flags, null);
    assert.equal(bare.timestamp, 7.25);
  });
  it('keeps an empty message', () => {
    assert.equal(parseTraceLine('  a-1  [000] .... 1.0: bpf_trace_printk: ').message, '');
  });
  it('returns other lines whole, with null fields', () => {
    assert.deepEqual(parseTraceLine('CPU:1 [LOST 3 EVENTS]'), {
      task: null,
      pid: null,
      cpu: null,
      flags: null,
      timestamp: null,
      event: null,
      message: 'CPU:1 [LOST 3 EVENTS]',
    });
  });
});

describe('tracefsCandidates', () => {
  it('prefers /sys/kernel/tracing, then other tracefs mounts, then debugfs/tracing', () => {
    const mounts = [
      'debugfs /sys/kernel/debug debugfs rw,nosuid,nodev,noexec,relatime 0 0',
      'tracefs /mnt/my\\040trace tracefs rw 0 0',
      'tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0',
      'proc /proc proc rw 0 0',
    ].join('\n');
    assert.deepEqual(tracefsCandidates(mounts), ['/sys/kernel/tracing', '/mnt/my trace', '/sys/kernel/debug/tracing']);
  });
  it('finds nothing when neither is mounted', () => {
    assert.deepEqual(tracefsCandidates('proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n'), []);
  });
});
