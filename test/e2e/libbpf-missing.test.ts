/**
 * A machine without libbpf: commands that need it say what is missing and how to install it,
 * and the CLI's help and doctor still work (libbpf is loaded on first use, not at start).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CLI, ROOT } from '../helpers/cli.js';

const withoutLibbpf = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDPKIT_LIBBPF: '/nonexistent/libbpf.so.1' },
  });

describe('without libbpf', () => {
  it('a command that needs it fails with the package to install', () => {
    const run = withoutLibbpf(['status']);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^error: cannot load \/nonexistent\/libbpf\.so\.1: libbpf is not installed$/m);
    assert.match(run.stderr, /^hint: apt-get install libbpf1/m);
  });

  it('help still works', () => {
    const run = withoutLibbpf(['--help']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Usage: xdpkit/);
  });

  it('doctor reports it as a failed check with the fix', () => {
    const run = withoutLibbpf(['doctor', '--json']);
    assert.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: { id: string; status: string; fix?: string }[] };
    assert.equal(report.ok, false);
    const libbpf = report.checks.find((c) => c.id === 'libbpf');
    assert.equal(libbpf?.status, 'fail');
    assert.match(libbpf?.fix ?? '', /apt-get install libbpf1/);
  });
});
