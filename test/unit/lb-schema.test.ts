import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHealthCheck, statusExpected } from '../../src/lb/model.js';
import { LbConfigError, parseDuration, parseHealthCheckSpec, parseLoadBalancerText, parseVip } from '../../src/lb/schema.js';

const doc = (services: string) => `apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n${services}`;

function issues(text: string): string[] {
  try {
    parseLoadBalancerText(text);
  } catch (e) {
    assert.ok(e instanceof LbConfigError, String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected an LbConfigError');
}

describe('LoadBalancer schema', () => {
  it('parses services with defaults', () => {
    const lb = parseLoadBalancerText(
      doc(`  - vip: 198.18.0.10:80/tcp
    backends:
      - { address: 198.18.1.1, weight: 2, mac: "02:00:00:00:01:01" }
      - { address: 198.18.1.2, state: draining }
  - name: v6
    vip: "[2001:db8::10]:443/udp"
    mode: ipip
    hash: addresses
    tableSize: 251
    backends: [{ address: "2001:db8:1::1" }]
`),
    );
    const [a, b] = lb.services;
    assert.equal(a!.name, 'svc-0');
    assert.equal(a!.vip.address, '198.18.0.10');
    assert.equal(a!.port, 80);
    assert.equal(a!.proto, 'tcp');
    assert.equal(a!.mode, 'dsr-l2');
    assert.equal(a!.hash, '5-tuple');
    assert.equal(a!.tableSize, 65537);
    assert.deepEqual(a!.backends.map((x) => [x.address, x.weight, x.state, x.mac]), [
      ['198.18.1.1', 2, 'active', '02:00:00:00:01:01'],
      ['198.18.1.2', 1, 'draining', undefined],
    ]);
    assert.equal(b!.vip.family, 6);
    assert.equal(b!.mode, 'ipip');
    assert.equal(b!.hash, 'addresses');
    assert.equal(b!.tableSize, 251);
  });

  it('parses VIP forms, port 0 = all ports', () => {
    assert.deepEqual(
      [parseVip('198.18.0.10/udp'), parseVip('2001:db8::10/tcp'), parseVip('[2001:db8::10]:53/udp')].map((v) => [v.vip.address, v.port, v.proto]),
      [['198.18.0.10', 0, 'udp'], ['2001:db8::10', 0, 'tcp'], ['2001:db8::10', 53, 'udp']],
    );
    assert.throws(() => parseVip('198.18.0.10:80'), /has no protocol/);
    assert.throws(() => parseVip('198.18.0.10:80/sctp'), /not tcp or udp/);
    assert.throws(() => parseVip('198.18.0.10:99999/tcp'), /0\.\.65535/);
  });

  it('names the path and the fix', () => {
    const got = issues(
      doc(`  - vip: 198.18.0.10:80/tcp
    tableSize: 65536
    backends:
      - { address: 198.18.1.1, weight: -1 }
      - { address: 198.18.1.1, wieght: 2 }
      - { address: 198.18.1.300 }
      - { address: 198.18.1.4, state: gone, mac: "01:00:5e:00:00:01" }
  - vip: 198.18.0.10:80/tcp
    mode: nat
`),
    );
    const want = [
      /^services\[0\]\.tableSize: 65536 is not a prime .*use 65521 or 65537/,
      /^services\[0\]\.backends\[0\]\.weight: must be 0\.\.65535/,
      /^services\[0\]\.backends\[1\]\.wieght: unknown field "wieght"; did you mean "weight"\?/,
      /^services\[0\]\.backends\[2\]\.address: "198\.18\.1\.300" is not an IPv4 or IPv6 address/,
      /^services\[0\]\.backends\[3\]\.state: must be active or draining/,
      /^services\[0\]\.backends\[3\]\.mac: .* is a multicast MAC/,
      /^services\[1\]\.mode: must be dsr-l2 or ipip/,
    ];
    for (const re of want) assert.ok(got.some((l) => re.test(l)), `${re} not in:\n${got.join('\n')}`);
  });

  it('refuses duplicates and impossible tables', () => {
    const got = issues(
      doc(`  - { name: a, vip: 198.18.0.10:80/tcp, tableSize: 3, backends: [{ address: 198.18.1.1 }, { address: 198.18.1.2 }, { address: 198.18.1.3 }, { address: 198.18.1.4 }] }
  - { name: a, vip: "198.18.0.10:80/tcp", backends: [{ address: 198.18.1.1 }, { address: "198.18.1.1" }] }
`),
    );
    const want = [
      /^services\[0\]\.tableSize: 3 slots cannot hold 4 backends; use a prime ≥ 400/,
      /^services\[1\]\.vip: 198\.18\.0\.10:80\/tcp is already services\[0\]/,
      /^services\[1\]\.name: "a" is already the name of services\[0\]/,
      /^services\[1\]\.backends\[1\]\.address: 198\.18\.1\.1 is already backends\[0\]/,
    ];
    for (const re of want) assert.ok(got.some((l) => re.test(l)), `${re} not in:\n${got.join('\n')}`);
  });

  it('says what kind is expected', () => {
    assert.match(issues('apiVersion: xdpkit/v1\nkind: FirewallPolicy\n').join('\n'), /^kind: must be LoadBalancer/);
    assert.match(issues('services: [').join('\n'), /not valid YAML/);
  });

  it('health checks: defaults, durations, the service port', () => {
    const lb = parseLoadBalancerText(
      doc(`  - vip: 198.18.0.10:80/tcp
    healthCheck: { type: tcp }
  - vip: 198.18.0.11/tcp
    healthCheck: { type: http, port: 8080, path: /healthz, interval: 500ms, timeout: 0.2, rise: 1, fall: 5 }
  - vip: 198.18.0.12:443/tcp
    healthCheck: { type: http, interval: 300ms }
`),
    );
    assert.deepEqual(lb.services[0]!.healthCheck, { type: 'tcp', port: 80, intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 });
    assert.deepEqual(lb.services[1]!.healthCheck, { type: 'http', port: 8080, path: '/healthz', expect: [[200, 399]], intervalMs: 500, timeoutMs: 200, rise: 1, fall: 5 });
    assert.deepEqual(lb.services[2]!.healthCheck, { type: 'http', port: 443, path: '/', expect: [[200, 399]], intervalMs: 300, timeoutMs: 300, rise: 2, fall: 3 });
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration(2), 2000);
    assert.throws(() => parseDuration('2 minutes'), /not a duration; write e\.g\. 2s or 500ms/);
  });

  it('health checks: every mistake names the field and the fix', () => {
    const got = issues(
      doc(`  - vip: 198.18.0.10/tcp
    healthCheck: { type: ping }
  - vip: 198.18.0.11:80/tcp
    healthCheck: { type: tcp, path: /x, rise: 0, fall: 1000, intervall: 2s }
  - vip: 198.18.0.12:80/tcp
    healthCheck: { type: http, path: healthz, interval: 1s, timeout: 3s, port: 70000 }
  - vip: 198.18.0.14:80/tcp
    healthCheck: { type: tcp, interval: fast }
`),
    );
    const want = [
      /^services\[0\]\.healthCheck\.type: must be tcp \(connect\) or http/,
      /^services\[1\]\.healthCheck\.rise: must be 1\.\.100/,
      /^services\[1\]\.healthCheck\.fall: must be 1\.\.100/,
      /^services\[1\]\.healthCheck\.intervall: unknown field "intervall"; did you mean "interval"\?/,
      /^services\[2\]\.healthCheck\.path: must start with \//,
      /^services\[2\]\.healthCheck\.port: must be a port 1\.\.65535/,
      /^services\[3\]\.healthCheck\.interval: "fast" is not a duration/,
    ];
    for (const re of want) assert.ok(got.some((l) => re.test(l)), `${re} not in:\n${got.join('\n')}`);
    // The document-wide check runs once every field parses: a VIP of all ports needs a check port.
    const refined = issues(
      doc(`  - vip: 198.18.0.11:80/tcp
    healthCheck: { type: tcp, path: /x }
  - vip: 198.18.0.12:80/tcp
    healthCheck: { type: http, interval: 1s, timeout: 3s }
`),
    );
    assert.match(issues(doc(`  - vip: 198.18.0.13/tcp\n    healthCheck: { type: tcp }\n`)).join('\n'), /^services\[0\]\.healthCheck\.port: is required: 198\.18\.0\.13\/tcp takes every port, so say which one to check, e\.g\. port: 80/);
    assert.ok(refined.some((l) => /^services\[0\]\.healthCheck\.path: a tcp check only connects; remove path/.test(l)), refined.join('\n'));
    assert.ok(refined.some((l) => /^services\[1\]\.healthCheck\.timeout: 3000 ms is longer than the interval \(1000 ms\)/.test(l)), refined.join('\n'));
  });

  it('http checks: expected statuses (2xx/3xx unless told) and the Host header', () => {
    const lb = parseLoadBalancerText(
      doc(`  - vip: 198.18.0.10:80/tcp
    healthCheck: { type: http, expect: 200, host: www.example.com }
  - vip: 198.18.0.11:80/tcp
    healthCheck: { type: http, expect: 2xx, host: "[2001:db8::1]:8080" }
  - vip: 198.18.0.12:80/tcp
    healthCheck: { type: http, expect: [200, "301-302", 4xx] }
  - vip: 198.18.0.13:80/tcp
    healthCheck: { type: http, expect: "200, 204" }
  - vip: 198.18.0.14:80/tcp
    healthCheck: { type: tcp }
`),
    );
    const checks = lb.services.map((s) => s.healthCheck!);
    assert.deepEqual(checks.map((h) => h.expect), [[[200, 200]], [[200, 299]], [[200, 200], [301, 302], [400, 499]], [[200, 200], [204, 204]], undefined]);
    assert.deepEqual(checks.map((h) => h.host), ['www.example.com', '[2001:db8::1]:8080', undefined, undefined, undefined]);
    assert.deepEqual(checks.map((h) => formatHealthCheck(h)), [
      'http:80/ every 2s expect 200 host www.example.com',
      'http:80/ every 2s expect 200-299 host [2001:db8::1]:8080',
      'http:80/ every 2s expect 200, 301-302, 400-499',
      'http:80/ every 2s expect 200, 204',
      'tcp:80 every 2s',
    ]);
    // The default: what HAProxy's option httpchk takes as healthy.
    const plain = parseLoadBalancerText(doc(`  - vip: 198.18.0.10:80/tcp
    healthCheck: { type: http }
`)).services[0]!.healthCheck!;
    assert.deepEqual([199, 200, 302, 399, 400, 503].map((status) => statusExpected(plain, status)), [false, true, true, true, false, false]);
    assert.deepEqual([200, 204, 301].map((status) => statusExpected(checks[3]!, status)), [true, true, false]);
  });

  it('http checks: a bad expect or host names the field and the fix', () => {
    const got = issues(
      doc(`  - vip: 198.18.0.10:80/tcp
    healthCheck: { type: http, expect: 700 }
  - vip: 198.18.0.11:80/tcp
    healthCheck: { type: http, expect: "299-200", host: "www example com" }
  - vip: 198.18.0.12:80/tcp
    healthCheck: { type: http, expect: [] }
  - vip: 198.18.0.13:80/tcp
    healthCheck: { type: http, expect: ok, hots: x }
  - vip: 198.18.0.14:80/tcp
    healthCheck: { type: tcp, expect: 200, host: www.example.com }
  - vip: 198.18.0.15:80/tcp
    healthCheck: { type: none, port: 80 }
`),
    );
    const want = [
      /^services\[0\]\.healthCheck\.expect: 700 is not an HTTP status \(100\.\.599\); write a status such as 200, a class such as 2xx, a range such as 200-299, or a list: \[200, 301\]$/,
      /^services\[1\]\.healthCheck\.expect: "299-200" runs backwards; write the lower status first: 200-299$/,
      /^services\[1\]\.healthCheck\.host: must be a host name such as www\.example\.com, optionally with :PORT/,
      /^services\[2\]\.healthCheck\.expect: is an empty list; write a status such as 200/,
      /^services\[3\]\.healthCheck\.expect: "ok" is not an HTTP status/,
      /^services\[3\]\.healthCheck\.hots: unknown field "hots"; did you mean "host"\?/,
      /^services\[4\]\.healthCheck\.expect: a tcp check sends no request; remove expect, or use type: http$/,
      /^services\[4\]\.healthCheck\.host: a tcp check sends no request; remove host, or use type: http$/,
      /^services\[5\]\.healthCheck\.port: type none turns the checks off; remove it, or give a type: tcp or http$/,
    ];
    for (const re of want) assert.ok(got.some((l) => re.test(l)), `${re} not in:\n${got.join('\n')}`);
  });

  it('defaults.healthCheck: every service without its own; its own replaces it whole; type none turns it off', () => {
    const lb = parseLoadBalancerText(`apiVersion: xdpkit/v1
kind: LoadBalancer
defaults:
  healthCheck: { type: http, path: /healthz, interval: 500ms, rise: 3 }
services:
  - { name: web, vip: 198.18.0.10:80/tcp }
  - { name: api, vip: 198.18.0.10:8080/tcp, healthCheck: { type: tcp, port: 9000 } }
  - { name: dns, vip: 198.18.0.10:53/udp, healthCheck: { type: none } }
`);
    const [web, api, dns] = lb.services;
    assert.deepEqual(web!.healthCheck, { type: 'http', port: 80, path: '/healthz', expect: [[200, 399]], intervalMs: 500, timeoutMs: 500, rise: 3, fall: 3 });
    // Not merged with the defaults: rise is the built-in 2, not the defaults' 3.
    assert.deepEqual(api!.healthCheck, { type: 'tcp', port: 9000, intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 });
    assert.equal(dns!.healthCheck, undefined);

    const got = issues(`apiVersion: xdpkit/v1
kind: LoadBalancer
defaults:
  healthCheck: { type: tcp, timeout: 5s, rise: 0 }
services:
  - { vip: 198.18.0.10/tcp }
`);
    assert.ok(got.some((l) => /^defaults\.healthCheck\.rise: must be 1\.\.100/.test(l)), got.join('\n'));
    const refined = issues(`apiVersion: xdpkit/v1
kind: LoadBalancer
defaults:
  healthCheck: { type: tcp }
services:
  - { vip: 198.18.0.10/tcp }
  - { vip: 198.18.0.11/tcp, healthCheck: { type: none } }
  - { vip: 198.18.0.12/tcp, healthCheck: { type: tcp, port: 22 } }
`);
    assert.deepEqual(refined, [
      'services[0].healthCheck: is required: 198.18.0.10/tcp takes every port and defaults.healthCheck gives none to check; give this service its own, e.g. { type: tcp, port: 80 }, or { type: none }',
    ]);
  });

  it('health checks from the command line use the same rules', () => {
    assert.deepEqual(parseHealthCheckSpec('http:8080/healthz', 80), { type: 'http', port: 8080, path: '/healthz', expect: [[200, 399]], intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 });
    assert.deepEqual(parseHealthCheckSpec('http/healthz', 80, { expect: '200,301', host: 'www.example.com' }), {
      type: 'http',
      port: 80,
      path: '/healthz',
      expect: [[200, 200], [301, 301]],
      host: 'www.example.com',
      intervalMs: 2000,
      timeoutMs: 1000,
      rise: 2,
      fall: 3,
    });
    assert.throws(() => parseHealthCheckSpec('tcp', 80, { host: 'www.example.com' }), /--health-host: a tcp check sends no request; remove host, or use type: http/);
    assert.throws(() => parseHealthCheckSpec('http', 80, { expect: '2xx-3xx' }), /--health-expect: "2xx-3xx" is not an HTTP status; write a status such as 200/);
    assert.throws(() => parseHealthCheckSpec('none', 80), /--health-check none: .*not checked unless told/);
    assert.deepEqual(parseHealthCheckSpec('tcp', 443), { type: 'tcp', port: 443, intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 });
    assert.throws(() => parseHealthCheckSpec('tcp', 0), /has no port, and the service takes every port/);
    assert.throws(() => parseHealthCheckSpec('icmp', 80), /must be tcp \(connect\) or http/);
    assert.throws(() => parseHealthCheckSpec('tcp:80:90', 80), /is not TYPE\[:PORT\]\[\/PATH\]/);
  });
});
