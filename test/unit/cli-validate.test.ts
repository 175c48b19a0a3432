import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/bpf/errors.js';
import {
  argParser,
  inferValue,
  parseInterfaceName,
  parseMode,
  parsePort,
  parsePortRange,
  parsePositiveInt,
  parsePositiveNumber,
  parseRegex,
  parseSet,
  repeatable,
} from '../../src/cli/validate.js';

/** Asserts an InvalidArgumentError whose message and hint match. */
function rejects(run: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.match(error.message, message);
    if (hint) assert.match(error.hint ?? '', hint);
    return true;
  });
}

describe('parseMode', () => {
  it('accepts the three modes', () => {
    assert.equal(parseMode('native'), 'native');
    assert.equal(parseMode('generic'), 'generic');
    assert.equal(parseMode('auto'), 'auto');
  });
  it("accepts xdp-loader's skb as generic", () => {
    assert.equal(parseMode('skb'), 'generic');
  });
  it('names the option, the value and the choices', () => {
    rejects(() => parseMode('fast'), /^invalid --mode "fast": expected native, generic or auto$/, /--mode native .*generic.*auto/);
    rejects(() => parseMode('Native', '--attach-mode'), /--attach-mode "Native"/);
  });
});

describe('parseInterfaceName', () => {
  it('accepts real names, up to 15 bytes', () => {
    for (const name of ['eth0', 'lo', 'veth-a.100', 'enp0s31f6', 'a'.repeat(15)]) assert.equal(parseInterfaceName(name), name);
  });
  it('rejects what the kernel rejects, saying why', () => {
    rejects(() => parseInterfaceName(''), /cannot be empty/);
    rejects(() => parseInterfaceName('a'.repeat(16)), /longer than 15 bytes/);
    rejects(() => parseInterfaceName('eth0/1'), /contains '\/'/);
    rejects(() => parseInterfaceName('eth 0'), /whitespace/);
    rejects(() => parseInterfaceName('eth0:1'), /':'/);
    rejects(() => parseInterfaceName('..'), /not interface names/);
  });
  it('counts bytes, not characters', () => {
    rejects(() => parseInterfaceName('é'.repeat(8)), /longer than 15 bytes/);
  });
  it('points at the list of interfaces', () => {
    rejects(() => parseInterfaceName('a/b'), /^invalid interface "a\/b"/, /ip -br link/);
  });
});

describe('ports', () => {
  it('parses ports 0..65535', () => {
    assert.equal(parsePort('0'), 0);
    assert.equal(parsePort('65535'), 65535);
    rejects(() => parsePort('65536'), /--port "65536": a port is 0 to 65535/);
    rejects(() => parsePort('-1', '--dport'), /--dport "-1": expected a whole number/);
    rejects(() => parsePort('8o'), /expected a whole number/);
    rejects(() => parsePort(''), /expected a whole number/);
  });
  it('parses single ports and inclusive ranges', () => {
    assert.deepEqual(parsePortRange('53'), { from: 53, to: 53 });
    assert.deepEqual(parsePortRange('1024-2047'), { from: 1024, to: 2047 });
    assert.deepEqual(parsePortRange('0-65535'), { from: 0, to: 65535 });
  });
  it('rejects bad ranges with the reason', () => {
    rejects(() => parsePortRange('2000-1000'), /ends before it starts/);
    rejects(() => parsePortRange('1-70000'), /a port is 0 to 65535/);
    rejects(() => parsePortRange('1-2-3'), /expected a port or a range like 1024-2047/, /--ports/);
    rejects(() => parsePortRange('http'), /expected a port or a range/);
  });
});

describe('positive numbers', () => {
  it('parses positive integers', () => {
    assert.equal(parsePositiveInt('1', '--count'), 1);
    assert.equal(parsePositiveInt('1000000', '--count'), 1_000_000);
    rejects(() => parsePositiveInt('0', '--count'), /^invalid --count "0": must be at least 1$/, /--count a whole number of 1 or more/);
    rejects(() => parsePositiveInt('1.5', '--count'), /expected a whole number/);
    rejects(() => parsePositiveInt('1e3', '--count'), /expected a whole number/);
    rejects(() => parsePositiveInt('99999999999999999999', '--count'), /too large/);
  });
  it('parses positive decimals for durations', () => {
    assert.equal(parsePositiveNumber('0.5', '--timeout'), 0.5);
    assert.equal(parsePositiveNumber('3', '--timeout'), 3);
    rejects(() => parsePositiveNumber('0', '--timeout'), /must be more than 0/, /--timeout 5/);
    rejects(() => parsePositiveNumber('soon', '--timeout'), /expected a number/);
  });
});

describe('parseRegex', () => {
  it('compiles valid expressions and explains invalid ones', () => {
    assert.ok(parseRegex('drop|pass').test('xdp drop'));
    rejects(() => parseRegex('('), /^invalid --grep "\(": Invalid regular expression/, /quote it/);
  });
});

describe('--set key=value', () => {
  it('infers booleans, numbers and strings', () => {
    assert.deepEqual(parseSet('verbose=true'), { key: 'verbose', value: true });
    assert.deepEqual(parseSet('verbose=false'), { key: 'verbose', value: false });
    assert.deepEqual(parseSet('port=53'), { key: 'port', value: 53 });
    assert.deepEqual(parseSet('delta=-3'), { key: 'delta', value: -3 });
    assert.deepEqual(parseSet('mask=0xff'), { key: 'mask', value: 255 });
    assert.deepEqual(parseSet('ratio=0.25'), { key: 'ratio', value: 0.25 });
    assert.deepEqual(parseSet('name=eth0'), { key: 'name', value: 'eth0' });
  });
  it('keeps 64-bit integers exact as bigint', () => {
    assert.deepEqual(parseSet('limit=18446744073709551615'), { key: 'limit', value: 18446744073709551615n });
    assert.deepEqual(parseSet('cookie=0xffffffffffffffff'), { key: 'cookie', value: 0xffffffffffffffffn });
    assert.equal(inferValue(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  });
  it('treats quoted values as strings and splits at the first =', () => {
    assert.deepEqual(parseSet('port="80"'), { key: 'port', value: '80' });
    assert.deepEqual(parseSet("flag='true'"), { key: 'flag', value: 'true' });
    assert.deepEqual(parseSet('empty=""'), { key: 'empty', value: '' });
    assert.deepEqual(parseSet('expr=a=b'), { key: 'expr', value: 'a=b' });
    assert.deepEqual(parseSet('spaced=a b'), { key: 'spaced', value: 'a b' });
  });
  it('allows dotted and dashed keys', () => {
    assert.deepEqual(parseSet('limits.max-rate=10'), { key: 'limits.max-rate', value: 10 });
  });
  it('rejects malformed settings, naming the option and the form', () => {
    rejects(() => parseSet('port'), /^invalid --set "port": expected key=value$/, /--set key=value, e\.g\. --set port=53/);
    rejects(() => parseSet('=5'), /expected key=value/);
    rejects(() => parseSet('port='), /the value is empty \(write key="" for an empty string\)/);
    rejects(() => parseSet('1port=5'), /the key must start with a letter or _/);
    rejects(() => parseSet('po rt=5', '--const'), /^invalid --const "po rt=5": the key/);
  });
});

describe('commander adapters', () => {
  it('argParser binds the option name', () => {
    const parse = argParser(parsePositiveInt, '--repeat');
    assert.equal(parse('3'), 3);
    rejects(() => parse('x'), /invalid --repeat "x"/);
  });
  it('repeatable collects every occurrence in order', () => {
    const collect = repeatable(argParser(parseSet, '--set'));
    const first = collect('a=1', undefined);
    assert.deepEqual(collect('b=true', first), [
      { key: 'a', value: 1 },
      { key: 'b', value: true },
    ]);
  });
});
