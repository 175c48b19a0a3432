import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError } from '../../src/bpf/errors.js';
import { compileLoadBalancer } from '../../src/lb/compile.js';
import { addBackend, addService, findService, removeBackend, removeService, setBackendState, setBackendWeight } from '../../src/lb/edit.js';
import { parseLoadBalancerText } from '../../src/lb/schema.js';

const base = parseLoadBalancerText(`apiVersion: xdpkit/v1
kind: LoadBalancer
services:
  - name: web
    vip: 198.18.0.10:80/tcp
    tableSize: 251
    backends:
      - { address: 198.18.1.1, mac: "02:00:00:00:01:01" }
      - { address: 198.18.1.2, mac: "02:00:00:00:01:02" }
  - name: dns6
    vip: "[2001:db8::10]:53/udp"
    tableSize: 251
    backends: [{ address: "2001:db8:1::1", mac: "02:00:00:00:01:03" }]
  - name: web-all
    vip: 198.18.0.10/udp
    tableSize: 251
`);

describe('lb edits (pure, on the model)', () => {
  it('finds a service by name, key, VIP:port or VIP, with addresses normalised', () => {
    assert.equal(findService(base, 'web').name, 'web');
    assert.equal(findService(base, '198.18.0.10:80/tcp').name, 'web');
    assert.equal(findService(base, '198.18.0.10:80').name, 'web');
    assert.equal(findService(base, '[2001:DB8:0::10]:53/udp').name, 'dns6');
    assert.equal(findService(base, '2001:db8::10').name, 'dns6');
    assert.equal(findService(base, '198.18.0.10/udp').name, 'web-all');
    assert.throws(() => findService(base, '198.18.0.10'), /names 2 services: 198\.18\.0\.10:80\/tcp, 198\.18\.0\.10\/udp/);
    assert.throws(
      () => findService(base, '198.18.0.99:80/tcp'),
      (e: unknown) => e instanceof NotFoundError && /no service "198\.18\.0\.99:80\/tcp".*its services: web \(198\.18\.0\.10:80\/tcp\), dns6/.test(e.message) && /lb service add/.test(e.hint ?? ''),
    );
  });

  it('adds a service with defaults and a free name; refuses a duplicate key or name', () => {
    const next = addService(base, { vip: '198.18.0.20:443/tcp' });
    assert.equal(next.services.length, 4);
    const s = next.services[3]!;
    assert.deepEqual([s.index, s.name, s.mode, s.hash, s.tableSize, s.backends.length], [3, 'svc-3', 'dsr-l2', '5-tuple', 65537, 0]);
    assert.equal(base.services.length, 3, 'the input model is not changed');
    assert.throws(() => addService(base, { vip: '198.18.0.10:80/TCP' }), /198\.18\.0\.10:80\/tcp is already the service web/);
    assert.throws(() => addService(base, { vip: '198.18.0.30:80/tcp', name: 'dns6' }), /name "dns6" is taken by \[2001:db8::10\]:53\/udp/);
  });

  it('removes a service and renumbers the rest', () => {
    const next = removeService(base, 'dns6');
    assert.deepEqual(next.services.map((s) => [s.index, s.name]), [[0, 'web'], [1, 'web-all']]);
  });

  it('adds, removes, drains and undrains backends', () => {
    let lb = addBackend(base, 'web', { address: '198.18.1.3', weight: 3, mac: '02:00:00:00:01:04' });
    const web = () => lb.services[0]!;
    assert.deepEqual(web().backends.map((b) => [b.index, b.address, b.weight, b.state]), [
      [0, '198.18.1.1', 1, 'active'],
      [1, '198.18.1.2', 1, 'active'],
      [2, '198.18.1.3', 3, 'active'],
    ]);
    assert.throws(() => addBackend(lb, 'web', { address: '198.18.1.3' }), (e: Error & { hint?: string }) => /198\.18\.1\.3 is already a backend of web/.test(e.message) && /lb backend weight 198\.18\.0\.10:80\/tcp 198\.18\.1\.3 W/.test(e.hint ?? ''));
    assert.throws(() => addBackend(lb, 'web', { address: '198.18.1.300' }), /not an IPv4 or IPv6 address/);
    lb = setBackendState(lb, '198.18.0.10:80/tcp', '198.18.1.1', 'draining');
    assert.equal(web().backends[0]!.state, 'draining');
    assert.equal(setBackendState(lb, 'web', '198.18.1.1', 'draining'), lb, 'draining twice changes nothing');
    lb = setBackendState(lb, 'web', '198.18.1.1', 'active');
    assert.equal(web().backends[0]!.state, 'active');
    lb = setBackendWeight(lb, 'web', '198.18.1.2', 5);
    assert.equal(web().backends[1]!.weight, 5);
    assert.equal(setBackendWeight(lb, 'web', '198.18.1.2', 5), lb, 'the same weight changes nothing');
    lb = removeBackend(lb, 'web', '198.18.1.2');
    assert.deepEqual(web().backends.map((b) => [b.index, b.address]), [[0, '198.18.1.1'], [1, '198.18.1.3']]);
    assert.throws(() => removeBackend(lb, 'web', '198.18.1.2'), /198\.18\.1\.2 is not a backend of web .*its backends: 198\.18\.1\.1, 198\.18\.1\.3/);
  });

  it('refuses more backends than the Maglev table has slots', () => {
    let lb = addService(base, { vip: '198.18.0.40:80/tcp', tableSize: 3 });
    for (const a of ['198.18.2.1', '198.18.2.2', '198.18.2.3']) lb = addBackend(lb, '198.18.0.40:80/tcp', { address: a });
    assert.throws(() => addBackend(lb, '198.18.0.40:80/tcp', { address: '198.18.2.4' }), /table \(3 slots\) cannot hold 4 backends/);
  });

  it('an edited model compiles with stable ids: the untouched backends keep theirs', () => {
    const first = compileLoadBalancer(base, { ringPerGen: 1 << 12 });
    const next = compileLoadBalancer(setBackendState(addBackend(base, 'web', { address: '198.18.1.9', mac: '02:00:00:00:01:09' }), 'web', '198.18.1.1', 'draining'), {
      previous: first,
      ringPerGen: 1 << 12,
    });
    for (const b of first.backends) assert.equal(next.backends.find((x) => x.service === b.service && x.address === b.address)?.id, b.id);
    assert.equal(next.generation, 1);
    const drained = next.backends.find((b) => b.address === '198.18.1.1')!;
    const slice = next.ring.find((r) => r.service === 'web')!;
    assert.ok(!slice.ids.includes(drained.id), 'a draining backend has no Maglev slot');
  });
});
