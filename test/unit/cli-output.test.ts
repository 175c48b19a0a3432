import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { formatBytes, formatCount, formatRate, Output, toJson } from '../../src/cli/output.js';

/** An Output writing into strings; PassThrough is not a TTY, so no colour codes. */
function capture(json = false): { out: Output; stdout: () => string; stderr: () => string } {
  const chunks = { stdout: '', stderr: '' };
  const stream = (key: 'stdout' | 'stderr') => {
    const pass = new PassThrough();
    pass.on('data', (data: Buffer) => (chunks[key] += data.toString()));
    return pass as unknown as NodeJS.WriteStream;
  };
  const out = new Output(json, stream('stdout'), stream('stderr'));
  return { out, stdout: () => chunks.stdout, stderr: () => chunks.stderr };
}

describe('number formatting', () => {
  it('counts get thousands separators, bigints too', () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(1234567), '1,234,567');
    assert.equal(formatCount(18446744073709551615n), '18,446,744,073,709,551,615');
  });
  it('rates use SI prefixes with one decimal', () => {
    assert.equal(formatRate(950), '950 pps');
    assert.equal(formatRate(1234), '1.2 kpps');
    assert.equal(formatRate(3_400_000), '3.4 Mpps');
    assert.equal(formatRate(999_960), '1.0 Mpps');
    assert.equal(formatRate(10e9, 'bps'), '10.0 Gbps');
  });
  it('bytes use binary prefixes', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3.4 * 1024 * 1024), '3.4 MiB');
    assert.equal(formatBytes(1n << 40n), '1.0 TiB');
  });
});

describe('toJson', () => {
  it('writes bigints as numbers when exact, strings otherwise', () => {
    assert.equal(toJson({ a: 5n, b: 18446744073709551615n }), '{"a":5,"b":"18446744073709551615"}');
  });
});

describe('Output', () => {
  it('prints aligned tables without borders or trailing blanks', async () => {
    const { out, stdout } = capture();
    out.table(
      [{ header: 'IFACE' }, { header: 'PACKETS', align: 'right' }],
      [
        ['eth0', 1234567],
        ['lo', 5n],
      ],
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stdout(), 'IFACE    PACKETS\neth0   1,234,567\nlo             5\n');
  });
  it('prints key/value lists aligned', async () => {
    const { out, stdout } = capture();
    out.keyValues([
      ['mode', 'native'],
      ['interface', 'eth0'],
      ['program', null],
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stdout(), 'mode:       native\ninterface:  eth0\nprogram:    -\n');
  });
  it('result() prints JSON with --json, calls the human printer otherwise', async () => {
    const json = capture(true);
    json.out.result({ n: 1n }, () => json.out.line('human'));
    const human = capture(false);
    human.out.result({ n: 1n }, () => human.out.line('human'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(JSON.parse(json.stdout()), { n: 1 });
    assert.equal(human.stdout(), 'human\n');
  });
  it('notes and warnings go to stderr', async () => {
    const { out, stdout, stderr } = capture(true);
    out.note('mounted tracefs');
    out.warn('tracing is off');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stdout(), '');
    assert.equal(stderr(), 'mounted tracefs\nwarning: tracing is off\n');
  });
});
