/**
 * The kernel's BPF run-time statistics (run count and total ns per program). They cost a little
 * per run, so the kernel keeps them off unless kernel.bpf_stats_enabled=1 or someone holds the
 * fd returned by BPF_ENABLE_STATS; `enableRunTimeStats` does the latter for as long as needed.
 */
import { readFileSync } from 'node:fs';
import { errorFromErrno } from './errors.js';
import { BPF_STATS_RUN_TIME, libbpf, libcCalls } from './libbpf.js';

/** Whether the sysctl kernel.bpf_stats_enabled is on (stats collected for everyone). */
export function runTimeStatsSysctlEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** Turns run-time stats on until the returned function is called. */
export function enableRunTimeStats(): () => void {
  const fd = libbpf.enableStats(BPF_STATS_RUN_TIME) as number;
  if (fd < 0) throw errorFromErrno('enabling BPF run-time statistics', fd);
  let open = true;
  return () => {
    if (open) libcCalls.close(fd);
    open = false;
  };
}
