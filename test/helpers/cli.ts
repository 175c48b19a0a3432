/**
 * The CLI as a user runs it, for e2e tests: `node dist/cli/main.js …` (run `npm run build`
 * first), optionally inside a testbed namespace and optionally without root.
 *
 * Inside a namespace the CLI is started with `nsenter --net=/run/netns/NAME`, which changes the
 * network namespace only: `ip netns exec` would also give it a private /sys, and the bpffs pins
 * it makes would vanish with it (DESIGN.md, "Facts").
 *
 *   const run = await xdpkit(['prog', 'load', 'eth0', 'pass'], { netns: bed.netns('b') });
 *   assert.equal(run.code, 0, run.report());
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NETNS_RUN_DIR } from '../../src/net/index.js';
import { ROOT } from './paths.js';

export { ROOT };
export const CLI = join(ROOT, 'dist/cli/main.js');
export const PIN_ROOT = '/sys/fs/bpf/xdpkit';
export const RECORD_DIR = process.env.XDPKIT_RUN_DIR ?? '/run/xdpkit';
export const IS_ROOT = process.geteuid?.() === 0;
/** For describe(…, { skip }): the e2e tests create namespaces and attach XDP programs. */
export const skipUnlessRoot: string | false = IS_ROOT ? false : 'needs root (network namespaces, XDP attach)';

export interface CliOptions {
  /** Real name of the network namespace to run in (Testbed.netns(…)); default: this one. */
  netns?: string;
  /** Run as nobody (uid/gid 65534, no supplementary groups) through setpriv. */
  unprivileged?: boolean;
  /** Kill the CLI after this long, which fails the call (default 20 s). */
  timeoutMs?: number;
}

export interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** stdout parsed as JSON (fails the test with the whole output when it is not). */
  json<T = unknown>(): T;
  /** The command and everything it printed, for assertion messages. */
  report(): string;
}

/** The argv that runs the CLI as `options` asks. */
export function cliArgv(args: readonly string[], options: CliOptions = {}): string[] {
  const node = [process.execPath, CLI, ...args];
  const user = options.unprivileged ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
  return options.netns ? ['nsenter', `--net=${NETNS_RUN_DIR}/${options.netns}`, ...user] : user;
}

/** Runs the CLI to completion; resolves with its exit code and output (colours off). */
export function xdpkit(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const [file, ...rest] = cliArgv(args, options);
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(file!, rest, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`xdpkit ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const report = (): string =>
        `$ xdpkit ${args.join(' ')}${options.netns ? `   (in ${options.netns})` : ''}\nexit ${code}\n--- stdout\n${stdout}--- stderr\n${stderr}`;
      resolve({
        args,
        code,
        stdout,
        stderr,
        ms: Date.now() - started,
        report,
        json<T>(): T {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            return assert.fail(`stdout is not JSON\n${report()}`);
          }
        },
      });
    });
  });
}

/** A CLI runner bound to one namespace. */
export function cliIn(netns: string): (args: string[], options?: Omit<CliOptions, 'netns'>) => Promise<CliRun> {
  return (args, options = {}) => xdpkit(args, { ...options, netns });
}

/** Asserts the run succeeded (exit 0), showing everything it printed when it did not. */
export function assertOk(run: CliRun): CliRun {
  assert.equal(run.code, 0, run.report());
  return run;
}

export interface ExpectedError {
  /** Exit status: 1 for a failed command, 2 for a wrong command line. */
  code: 1 | 2;
  message: RegExp;
  hint?: RegExp;
  details?: RegExp;
}

/** Checks a human-readable error report: `error: …`, indented details, `hint: …`, nothing on stdout, no stack. */
export function assertHumanError(run: CliRun, expected: ExpectedError): void {
  assert.equal(run.code, expected.code, run.report());
  assert.equal(run.stdout, '', `an error prints nothing on stdout\n${run.report()}`);
  const lines = run.stderr.trimEnd().split('\n');
  const first = lines.findIndex((line) => line.startsWith('error: '));
  assert.notEqual(first, -1, `no "error: " line\n${run.report()}`);
  assert.match(lines[first]!.slice('error: '.length), expected.message, run.report());
  const hintLine = lines.find((line) => line.startsWith('hint: '));
  if (expected.hint) assert.match(hintLine?.slice('hint: '.length) ?? '', expected.hint, `hint\n${run.report()}`);
  if (expected.details) {
    const details = lines.filter((line) => line.startsWith('  ')).join('\n');
    assert.match(details, expected.details, `details (indented lines)\n${run.report()}`);
  }
  assert.doesNotMatch(run.stderr, /^\s+at .*\.js:\d+/m, `no stack trace without --debug\n${run.report()}`);
}

export interface JsonError {
  type: string;
  message: string;
  code?: string;
  hint?: string;
  details?: string;
}

/** Checks a --json error: one {error: {type, message, code, hint, details}} object on stdout. */
export function assertJsonError(run: CliRun, expected: ExpectedError & { type: string; errno?: string }): JsonError {
  assert.equal(run.code, expected.code, run.report());
  const { error } = run.json<{ error: JsonError }>();
  assert.ok(error, `no "error" object\n${run.report()}`);
  assert.equal(error.type, expected.type, run.report());
  assert.match(error.message, expected.message, run.report());
  if (expected.hint) assert.match(error.hint ?? '', expected.hint, run.report());
  if (expected.details) assert.match(error.details ?? '', expected.details, run.report());
  if (expected.errno) assert.equal(error.code, expected.errno, run.report());
  return error;
}

/** Pin directories and records xdpkit made for interfaces of namespace `netns` (keyed NETNS:IFNAME). */
export function tracesOf(netns: string): string[] {
  const list = (dir: string): string[] => {
    try {
      return readdirSync(dir)
        .filter((name) => name.startsWith(`${netns}:`))
        .map((name) => join(dir, name));
    } catch {
      return [];
    }
  };
  return [...list(PIN_ROOT), ...list(RECORD_DIR)];
}

/**
 * Cleanup for after(): unloads whatever is on the interfaces (through the CLI, as a user
 * would), then removes any pin or record of the namespaces that is still there (a detached
 * link keeps its pin when its namespace goes). Returns what it had to remove by force.
 */
export async function cleanUpNamespace(netns: string, ifnames: string[]): Promise<string[]> {
  if (!existsSync(`${NETNS_RUN_DIR}/${netns}`)) return removeTraces(netns);
  for (const ifname of ifnames) {
    try {
      await xdpkit(['prog', 'unload', ifname], { netns });
    } catch {
      // Keep going: the forced removal below still runs.
    }
  }
  return removeTraces(netns);
}

function removeTraces(netns: string): string[] {
  const left = tracesOf(netns);
  for (const path of left) rmSync(path, { recursive: true, force: true });
  return left;
}
