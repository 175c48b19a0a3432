/**
 * The CLI as a user runs it: `node dist/cli/main.js …` (run `npm run build` first). Checks the
 * help, exit statuses, human and --json error output, doctor, and trace, including a real
 * bpf_printk from a program loaded with bpftool (no xdpkit binding involved).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, IS_ROOT, ROOT, xdpkit } from '../helpers/cli.js';

/** Starts a long-running CLI command; resolves once `ready` appears on its stderr. */
function startXdpkit(args: string[], ready: RegExp) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const started = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
      if (ready.test(stderr)) resolve();
    });
    void closed.then(() => reject(new Error(`exited before ready: ${stderr}`)));
  });
  return { child, started, closed, stdout: () => stdout, stderr: () => stderr };
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('help and usage', () => {
  it('--help lists the command groups and the global options', async () => {
    const run = await xdpkit(['--help']);
    assert.equal(run.code, 0);
    for (const word of ['trace', 'doctor', '--json', '--debug']) assert.match(run.stdout, new RegExp(word));
  });

  it('--version prints the package version', async () => {
    const run = await xdpkit(['--version']);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run.code, 0);
    assert.equal(run.stdout.trim(), version);
  });

  it('an unknown command exits 2, suggests the near one and where to look', async () => {
    const run = await xdpkit(['doctr']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^error: unknown command 'doctr'\nhint: Did you mean doctor\? \(see: xdpkit --help\)\n$/);
  });

  it('an unknown option exits 2 and points at the command help', async () => {
    const run = await xdpkit(['trace', '--bogus']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /error: unknown option '--bogus'\nhint: see: xdpkit trace --help/);
  });

  it('an invalid option value exits 2 and names the option and the fix', async () => {
    const run = await xdpkit(['trace', '--timeout', 'soon']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /error: invalid --timeout "soon": expected a number\nhint: .*--timeout 5/);
    assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace without --debug');
  });

  it('--debug adds the stack', async () => {
    const run = await xdpkit(['--debug', 'trace', '--timeout', 'soon']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /InvalidArgumentError/);
    assert.match(run.stderr, /at .*validate\.js:\d+/);
  });
});

describe('--json errors', () => {
  it('a usage error is a JSON object on stdout', async () => {
    const run = await xdpkit(['--json', 'nosuchcommand']);
    assert.equal(run.code, 2);
    assert.deepEqual(JSON.parse(run.stdout), {
      error: {
        type: 'UsageError',
        message: "unknown command 'nosuchcommand'",
        code: 'commander.unknownCommand',
        hint: 'see: xdpkit --help',
      },
    });
  });

  it('a validation error keeps its type and hint, with --json after the command too', async () => {
    const run = await xdpkit(['trace', '--grep', '(', '--json']);
    assert.equal(run.code, 2);
    const { error } = JSON.parse(run.stdout) as { error: Record<string, unknown> };
    assert.equal(error.type, 'InvalidArgumentError');
    assert.match(String(error.message), /^invalid --grep "\("/);
    assert.match(String(error.hint), /regular expression/);
  });
});

describe('doctor', { skip: !IS_ROOT && 'needs root' }, () => {
  it('--json reports each check; root is ok and bpffs is reported', async () => {
    const run = await xdpkit(['doctor', '--json']);
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; summary: string }> };
    const byId = new Map(report.checks.map((check) => [check.id, check]));
    assert.equal(byId.get('user')?.status, 'ok');
    assert.equal(byId.get('capabilities')?.status, 'ok');
    assert.match(byId.get('bpffs')?.status ?? '', /^(ok|warn)$/);
    assert.match(byId.get('bpffs')?.summary ?? '', /\/sys\/fs\/bpf/);
    assert.ok(byId.has('interface:lo'), 'every interface is checked when none is named');
    const failed = report.checks.some((check) => check.status === 'fail');
    assert.equal(report.ok, !failed);
    assert.equal(run.code, failed ? 1 : 0);
  });

  it('prints a table a human can read', async () => {
    const run = await xdpkit(['doctor', 'lo']);
    assert.match(run.stdout, /^CHECK\s+STATUS\s+RESULT/m);
    assert.match(run.stdout, /^user\s+ok\s+root$/m);
    assert.match(run.stdout, /^interface lo\s+(ok|warn|info)\s+/m);
    assert.equal(run.stdout.match(/^interface /gm)?.length, 1, 'only the named interface');
  });

  it('a nonexistent interface fails and lists the existing ones', async () => {
    const run = await xdpkit(['doctor', 'nosuchif0']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: .*nosuchif0/m);
    assert.match(run.stderr, /\blo\b/, 'lists the interfaces there are');
  });

  it('with --json, the missing interface is a NotFoundError whose details list the others', async () => {
    const run = await xdpkit(['--json', 'doctor', 'nosuchif0']);
    assert.equal(run.code, 1);
    const { error } = JSON.parse(run.stdout) as { error: Record<string, unknown> };
    assert.equal(error.type, 'NotFoundError');
    assert.match(String(error.message), /nosuchif0/);
    assert.match(String(error.details), /\blo \(1\)/);
    assert.equal(typeof error.hint, 'string');
  });

  it('an impossible interface name is a usage error', async () => {
    const run = await xdpkit(['doctor', 'a/b']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /invalid interface "a\/b": contains '\/'/);
  });
});

describe('trace', { skip: !IS_ROOT && 'needs root' }, () => {
  it('--timeout 1 exits 0 within a few seconds', async () => {
    const run = await xdpkit(['trace', '--timeout', '1']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.ms < 5000, `took ${run.ms} ms`);
    assert.match(run.stderr, /reading .*trace_pipe \(stops after 1 s\)/);
  });

  it('Ctrl-C (SIGINT) and SIGTERM end it at once with status 0', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const trace = startXdpkit(['trace'], /reading/);
      await trace.started;
      const sent = Date.now();
      trace.child.kill(signal);
      const { code } = await trace.closed;
      assert.equal(code, 0, `${signal}: ${trace.stderr()}`);
      assert.ok(Date.now() - sent < 2000, `${signal}: took ${Date.now() - sent} ms`);
    }
  });

  const tools = ['clang-19', 'bpftool', 'unshare'].every(hasCommand);
  it('shows a bpf_printk from a loaded program', { skip: !tools && 'needs clang-19, bpftool and unshare' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xdpkit-trace-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const multiarch = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim();
    execFileSync('clang-19', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${multiarch}`, '-c',
      join(ROOT, 'test/e2e/fixtures/printk.bpf.c'), '-o', join(dir, 'printk.o')]);
    // An unusual packet length tells this test's line from anyone else's.
    const length = 100 + Math.floor(Math.random() * 900);
    writeFileSync(join(dir, 'packet'), Buffer.alloc(length));

    const trace = startXdpkit(['trace', '--json', '--grep', `xdpkit-e2e-printk len=${length}$`, '--timeout', '20'], /reading/);
    await trace.started;
    // Load and run the program in a private mount namespace with its own bpffs, so that the
    // pin (and with it the program) is gone when the shell exits.
    execFileSync('unshare', ['-m', 'sh', '-ec', [
      `mkdir ${dir}/bpffs`,
      `mount -t bpf bpf ${dir}/bpffs`,
      `bpftool prog load ${dir}/printk.o ${dir}/bpffs/prog`,
      `bpftool prog run pinned ${dir}/bpffs/prog data_in ${dir}/packet repeat 3`,
    ].join('\n')], { stdio: 'pipe' });

    const deadline = Date.now() + 10_000;
    while (!trace.stdout().includes('\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    trace.child.kill('SIGINT');
    const { code } = await trace.closed;
    assert.equal(code, 0, trace.stderr());
    const events = trace.stdout().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(events.length >= 1, 'at least one line came through');
    assert.equal(events[0]?.message, `xdpkit-e2e-printk len=${length}`);
    assert.equal(events[0]?.event, 'bpf_trace_printk');
    assert.equal(events[0]?.task, 'bpftool');
    assert.equal(typeof events[0]?.timestamp, 'number');
  });
});
