/**
 * `xdpkit doctor`: checks that this machine can load and attach XDP programs, and for each
 * problem says the command that fixes it. Each check reads one thing (a /proc or /sys file, the
 * PATH, libbpf) and never changes anything unless `fix` is set, and then only mounts (bpffs,
 * tracefs), which are safe and undone by a reboot; sysctls and packages are left to the user.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import { XdpkitError } from '../bpf/errors.js';
import { LIBBPF_PATH, libbpfVersion } from '../bpf/libbpf.js';
import { BpfObject } from '../bpf/object.js';
import { builtinProgram } from '../programs/catalogue.js';
import { BPFFS_ROOT, bpffsMounts, ensureBpffs } from '../bpf/pin.js';
import { runTimeStatsSysctlEnabled } from '../bpf/run-stats.js';
import { driverName, interfaceByName, listInterfaces, type InterfaceRef, xdpFeatures } from '../net/interfaces.js';
import { ensureTracefs, findTracefs, TRACEFS_DEFAULT } from './tracefs.js';

/** info: worth knowing, never a problem. warn: works, with a limit. fail: xdpkit cannot work. */
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface CheckResult {
  /** Stable key for scripts: "capabilities", "bpffs", "interface:eth0", … */
  id: string;
  status: CheckStatus;
  /** What was found, in a few words. */
  summary: string;
  /** The command (or step) that fixes a warn or fail. */
  fix?: string;
  /** What --fix did, when it did something. */
  fixed?: string;
}

export interface DoctorOptions {
  /** Perform the safe fixes (mounting bpffs and tracefs). */
  fix: boolean;
  /** Check only this interface; every interface when undefined. */
  interface?: string;
}

export interface DoctorReport {
  /** No check failed. */
  ok: boolean;
  checks: CheckResult[];
}

/**
 * Runs every check. A named interface that does not exist is an error (NotFoundError listing
 * the interfaces there are), not a failed check: the question itself was wrong.
 */
export function runDoctor(options: DoctorOptions): DoctorReport {
  const interfaces = options.interface === undefined ? listInterfaces() : [interfaceByName(options.interface)];
  const checks = [...systemChecks(options), ...interfaces.map(interfaceCheck)];
  return { ok: checks.every((check) => check.status !== 'fail'), checks };
}

/** The checks of the machine itself. */
function systemChecks(options: DoctorOptions): CheckResult[] {
  return [
    userCheck(),
    capabilitiesCheck(readFileSync('/proc/self/status', 'utf8')),
    kernelCheck(release()),
    btfCheck(),
    jitCheck(readSysctl('net/core/bpf_jit_enable')),
    bpffsCheck(options.fix),
    tracefsCheck(options.fix),
    runTimeStatsCheck(),
    libbpfCheck(),
    clangCheck(),
    unprivilegedCheck(readSysctl('kernel/unprivileged_bpf_disabled')),
  ];
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const SUDO = 'run xdpkit as root: sudo xdpkit …';

function userCheck(): CheckResult {
  const uid = process.geteuid?.() ?? -1;
  return uid === 0
    ? { id: 'user', status: 'ok', summary: 'root' }
    : { id: 'user', status: 'info', summary: `not root (uid ${uid}): the capabilities below decide` };
}

// Bit numbers from linux/capability.h.
const CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
type CapabilityName = keyof typeof CAPABILITIES;

/** Effective capabilities from /proc/<pid>/status (the CapEff hex mask). */
export function effectiveCapabilities(status: string): Set<CapabilityName> {
  const mask = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1] ?? '0'}`);
  const names = Object.keys(CAPABILITIES) as CapabilityName[];
  return new Set(names.filter((name) => (mask >> BigInt(CAPABILITIES[name])) & 1n));
}

/**
 * Loading and attaching XDP needs CAP_NET_ADMIN, plus CAP_BPF and CAP_PERFMON (kernel ≥ 5.8) or
 * CAP_SYS_ADMIN, which covers both.
 */
export function capabilitiesCheck(status: string): CheckResult {
  const have = effectiveCapabilities(status);
  const bpf = have.has('CAP_SYS_ADMIN') || (have.has('CAP_BPF') && have.has('CAP_PERFMON'));
  const missing = [
    ...(have.has('CAP_NET_ADMIN') ? [] : ['CAP_NET_ADMIN']),
    ...(bpf ? [] : ['CAP_BPF', 'CAP_PERFMON'].filter((name) => !have.has(name as CapabilityName))),
  ];
  const list = [...have].sort().join(' ') || 'none of CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN';
  if (missing.length === 0) return { id: 'capabilities', status: 'ok', summary: list };
  return {
    id: 'capabilities',
    status: 'fail',
    summary: `missing ${missing.join(', ')} (have: ${list})`,
    fix: `${SUDO}, or grant them: setcap cap_bpf,cap_net_admin,cap_perfmon+ep ${process.execPath}`,
  };
}

/** The release's first two numbers: "6.18.44-fc" → [6, 18]. */
export function kernelVersion(text: string): [number, number] {
  const [, major = '0', minor = '0'] = /^(\d+)\.(\d+)/.exec(text) ?? [];
  return [Number(major), Number(minor)];
}

export function kernelCheck(text: string): CheckResult {
  const [major, minor] = kernelVersion(text);
  const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  if (!atLeast(5, 9)) {
    return {
      id: 'kernel',
      status: 'warn',
      summary: `${text}: below 5.9, no BPF links for XDP (attach falls back to netlink, no atomic replace)`,
      fix: 'upgrade to a kernel ≥ 5.9 (≥ 5.18 for benchmarks)',
    };
  }
  if (!atLeast(5, 18)) {
    return {
      id: 'kernel',
      status: 'warn',
      summary: `${text}: below 5.18, benchmarks cannot generate traffic (no XDP live frames)`,
      fix: 'upgrade to a kernel ≥ 5.18 to run benchmarks',
    };
  }
  return { id: 'kernel', status: 'ok', summary: text };
}

function btfCheck(): CheckResult {
  const path = '/sys/kernel/btf/vmlinux';
  return existsSync(path)
    ? { id: 'btf', status: 'ok', summary: `${path} (${Math.round(statSync(path).size / 1024)} KiB)` }
    : {
        id: 'btf',
        status: 'warn',
        summary: `no ${path}: xdpkit's programs do not need it, CO-RE programs (vmlinux.h) do`,
        fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
      };
}

export function jitCheck(value: string | undefined, probe: () => boolean | undefined = probeJit): CheckResult {
  const fix = 'sysctl -w net.core.bpf_jit_enable=1';
  switch (value) {
    case '1':
      return { id: 'jit', status: 'ok', summary: 'enabled' };
    case '2':
      return { id: 'jit', status: 'warn', summary: 'enabled with debug output to the kernel log (2)', fix };
    case '0':
      return { id: 'jit', status: 'warn', summary: 'disabled: programs run in the interpreter, several times slower', fix };
  }
  // The sysctl exists only in the initial network namespace; elsewhere ask a loaded program.
  switch (probe()) {
    case true:
      return { id: 'jit', status: 'ok', summary: 'a test program was JIT-compiled (net.core.bpf_jit_enable is not visible in this network namespace)' };
    case false:
      return { id: 'jit', status: 'warn', summary: 'a test program was not JIT-compiled: programs run in the interpreter', fix: 'use a kernel built with CONFIG_BPF_JIT=y and net.core.bpf_jit_enable=1' };
    default:
      return { id: 'jit', status: 'warn', summary: 'unknown: no net.core.bpf_jit_enable here and a test program could not be loaded', fix: 'run xdpkit doctor as root in the initial network namespace' };
  }
}

/** Loads the built-in pass program and reports whether the kernel JIT-compiled it. */
function probeJit(): boolean | undefined {
  let object: BpfObject | undefined;
  try {
    object = BpfObject.open(builtinProgram('pass').object);
    object.load();
    return object.program('xdp_pass').info().jitedLength > 0;
  } catch {
    return undefined;
  } finally {
    object?.close();
  }
}

function bpffsCheck(fix: boolean): CheckResult {
  const mounts = bpffsMounts();
  if (mounts.includes(BPFFS_ROOT)) return { id: 'bpffs', status: 'ok', summary: `mounted at ${BPFFS_ROOT}` };
  if (fix) {
    ensureBpffs();
    return { id: 'bpffs', status: 'ok', summary: `mounted at ${BPFFS_ROOT}`, fixed: `mounted bpffs at ${BPFFS_ROOT}` };
  }
  const elsewhere = mounts.length > 0 ? ` (mounted at ${mounts.join(', ')} only)` : '';
  return {
    id: 'bpffs',
    status: 'warn',
    summary: `not mounted at ${BPFFS_ROOT}${elsewhere}: pins need it; xdpkit mounts it when it first pins`,
    fix: `mount -t bpf bpf ${BPFFS_ROOT} (or xdpkit doctor --fix)`,
  };
}

function tracefsCheck(fix: boolean): CheckResult {
  const found = findTracefs();
  if (found !== undefined) return { id: 'tracefs', status: 'ok', summary: `mounted at ${found}` };
  if (fix) {
    const { path } = ensureTracefs();
    return { id: 'tracefs', status: 'ok', summary: `mounted at ${path}`, fixed: `mounted tracefs at ${path}` };
  }
  return {
    id: 'tracefs',
    status: 'warn',
    summary: 'not mounted: bpf_printk output is unreadable; xdpkit trace mounts it when it starts',
    fix: `mount -t tracefs tracefs ${TRACEFS_DEFAULT} (or xdpkit doctor --fix)`,
  };
}

function runTimeStatsCheck(): CheckResult {
  return runTimeStatsSysctlEnabled()
    ? { id: 'bpf-stats', status: 'info', summary: 'run-time stats on for every program (kernel.bpf_stats_enabled=1)' }
    : {
        id: 'bpf-stats',
        status: 'info',
        summary: 'run-time stats off (kernel.bpf_stats_enabled=0): no per-program run time until something turns them on',
      };
}

function libbpfCheck(): CheckResult {
  try {
    return { id: 'libbpf', status: 'ok', summary: `${libbpfVersion()} (${LIBBPF_PATH})` };
  } catch (error) {
    const hint = error instanceof XdpkitError ? error.hint : undefined;
    return { id: 'libbpf', status: 'fail', summary: (error as Error).message, fix: hint ?? 'apt-get install libbpf1' };
  }
}

/** The same compilers the Makefile looks for, in the same order. */
function clangCheck(): CheckResult {
  const clang = ['clang-19', 'clang'].map(findOnPath).find((path) => path !== undefined);
  if (clang === undefined) {
    return {
      id: 'clang',
      status: 'warn',
      summary: 'not found: needed only to compile your own programs (built-in ones ship prebuilt)',
      fix: 'apt-get install clang-19',
    };
  }
  const version = execFileSync(clang, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  return { id: 'clang', status: 'ok', summary: `${clang}: ${version}` };
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

export function unprivilegedCheck(value: string | undefined): CheckResult {
  const summaries: Record<string, string> = {
    '0': 'allowed: unprivileged users may load some BPF programs (not XDP)',
    '1': 'disabled until reboot: only privileged users load BPF programs',
    '2': 'disabled: only privileged users load BPF programs',
  };
  return {
    id: 'unprivileged-bpf',
    status: 'info',
    summary: summaries[value ?? ''] ?? 'unknown (no kernel.unprivileged_bpf_disabled)',
  };
}

/** Driver and native XDP support, from the netdev family's XDP feature flags (Linux ≥ 6.3). */
function interfaceCheck({ name, ifindex }: InterfaceRef): CheckResult {
  const id = `interface:${name}`;
  const driver = driverName(name);
  const who = driver === undefined ? 'no driver info' : `driver ${driver}`;
  const features = xdpFeatures(ifindex);
  if (features === undefined) {
    return { id, status: 'info', summary: `${who}; XDP features unknown (kernel < 6.3): try --mode native, else generic` };
  }
  if (features.native) return { id, status: 'ok', summary: `${who}: native XDP (${features.flags.join(', ')})` };
  return {
    id,
    status: 'warn',
    summary: `${who}: no native XDP, generic mode only`,
    fix: `attach with --mode generic (slower: runs after the kernel built an skb)`,
  };
}
