import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeValue } from '../../src/bpf/codecs.js';
import { compileLoadBalancer, LbCompileError, pickBackend } from '../../src/lb/compile.js';
import { lbFlowHash } from '../../src/lb/hash.js';
import { backendCodec, LB_BACKEND_DRAINING, LB_BACKEND_DOWN, LB_BACKEND_IN_USE, LB_BACKEND_IPIP, serviceCodec, serviceKeyCodec } from '../../src/lb/layout.js';
import { MAGLEV_EMPTY, maglevDisruption, maglevShares } from '../../src/lb/maglev.js';
import { parseAddress, parseLoadBalancerText } from '../../src/lb/schema.js';

const yaml = (backends: string, extra = '') => `apiVersion: xdpkit/v1
kind: LoadBalancer
services:
  - name: web
    vip: 198.18.0.10:80/tcp
    tableSize: 4099
    backends:
${backends}
  - name: dns
    vip: "[2001:db8::10]:53/udp"
    mode: ipip
    hash: addresses
    tableSize: 251
    backends: [{ address: "2001:db8:1::1", mac: "02:00:00:00:02:01" }, { address: 198.18.1.9, mac: "02:00:00:00:02:02" }]
${extra}`;
const three = `      - { address: 198.18.1.1, mac: "02:00:00:00:01:01" }
      - { address: 198.18.1.2, mac: "02:00:00:00:01:02" }
      - { address: 198.18.1.3, mac: "02:00:00:00:01:03" }`;

/** ipip services need the load balancer's own addresses as outer sources. */
const SOURCE = { v4: parseAddress('198.18.0.2'), v6: parseAddress('2001:db8::2') };
const compile = (lb: Parameters<typeof compileLoadBalancer>[0], options: Parameters<typeof compileLoadBalancer>[1] = {}) => compileLoadBalancer(lb, { source: SOURCE, ...options });

describe('lb compile', () => {
  it('lays out services, ring slices and backends for generation 0', () => {
    const img = compile(parseLoadBalancerText(yaml(three)), { ringPerGen: 10_000 });
    assert.equal(img.generation, 0);
    assert.deepEqual(img.services.map((s) => [s.name, s.text, s.value.id]), [['web', '198.18.0.10:80/tcp', 0], ['dns', '[2001:db8::10]:53/udp', 1]]);
    const [web, dns] = img.services;
    assert.deepEqual(web!.value.gen[0], { ringOff: 0, ringSize: 4099, mode: 0, hash: 0, present: 1, pad: 0 });
    assert.deepEqual(web!.value.gen[1]!.present, 0);
    assert.deepEqual(dns!.value.gen[0], { ringOff: 4099, ringSize: 251, mode: 1, hash: 1, present: 1, pad: 0 });
    assert.deepEqual(img.ring.map((r) => [r.offset, r.ids.length]), [[0, 4099], [4099, 251]]);
    assert.deepEqual(img.backends.map((b) => [b.id, b.service, b.address, b.value.family, b.value.cookie]), [
      [0, 'web', '198.18.1.1', 4, 1],
      [1, 'web', '198.18.1.2', 4, 2],
      [2, 'web', '198.18.1.3', 4, 3],
      [3, 'dns', '2001:db8:1::1', 6, 4],
      [4, 'dns', '198.18.1.9', 4, 5],
    ]);
    assert.deepEqual([...maglevShares(img.ring[0]!.ids).keys()].sort(), [0, 1, 2]);
    assert.deepEqual([...maglevShares(img.ring[1]!.ids).keys()].sort(), [3, 4]);
    // Encodes with the map codecs.
    assert.equal(encodeValue(serviceKeyCodec, web!.key).length, 20);
    assert.equal(encodeValue(serviceCodec, web!.value).length, 28);
    assert.equal(encodeValue(backendCodec, img.backends[0]!.value).length, 32);
    assert.deepEqual([...encodeValue(serviceKeyCodec, web!.key).subarray(0, 4)], [198, 18, 0, 10]);
  });

  it('the next image fills the other generation and keeps ids, cookies and the live entry', () => {
    const lb1 = parseLoadBalancerText(yaml(three));
    const img1 = compile(lb1, { ringPerGen: 10_000 });
    const four = `${three}\n      - { address: 198.18.1.4, mac: "02:00:00:00:01:04" }`;
    const img2 = compile(parseLoadBalancerText(yaml(four)), { previous: img1, ringPerGen: 10_000 });
    assert.equal(img2.generation, 1);
    const web2 = img2.services[0]!;
    assert.deepEqual(web2.value.gen[0], img1.services[0]!.value.gen[0], 'live generation untouched');
    assert.equal(web2.value.gen[1]!.ringOff, 10_000);
    assert.equal(img2.ring[0]!.offset, 10_000);
    const byAddress = Object.fromEntries(img2.backends.map((b) => [b.address, [b.id, b.value.cookie]]));
    assert.deepEqual(byAddress, {
      '198.18.1.1': [0, 1],
      '198.18.1.2': [1, 2],
      '198.18.1.3': [2, 3],
      '198.18.1.4': [5, 6],
      '2001:db8:1::1': [3, 4],
      '198.18.1.9': [4, 5],
    });
    // Adding one backend to three moves ≈ 1/4 of the slots.
    const moved = maglevDisruption(img1.ring[0]!.ids, img2.ring[0]!.ids);
    assert.ok(moved > 0.2 && moved < 0.28, `moved ${moved}`);
    // A third image goes back to generation 0.
    assert.equal(compile(lb1, { previous: img2, ringPerGen: 10_000 }).generation, 0);
  });

  it('draining and down backends stay in the array but leave the ring; removed ones are stale', () => {
    const img1 = compile(parseLoadBalancerText(yaml(three)), { ringPerGen: 10_000 });
    const changed = three.replace('198.18.1.2, mac', '198.18.1.2, state: draining, mac').replace(/\n.*198\.18\.1\.3.*/, '');
    const img2 = compile(parseLoadBalancerText(yaml(changed)), {
      previous: img1,
      ringPerGen: 10_000,
      down: new Set(['dns|198.18.1.9']),
    });
    const flags = Object.fromEntries(img2.backends.map((b) => [b.address, b.value.flags]));
    assert.equal(flags['198.18.1.2'], LB_BACKEND_IN_USE | LB_BACKEND_DRAINING);
    assert.equal(flags['198.18.1.9'], LB_BACKEND_IN_USE | LB_BACKEND_DOWN | LB_BACKEND_IPIP, 'down, of an ipip service');
    assert.deepEqual([...maglevShares(img2.ring[0]!.ids).keys()], [0]);
    assert.deepEqual([...maglevShares(img2.ring[1]!.ids).keys()], [3]);
    assert.deepEqual(img2.staleBackends, [2]);
    // The removed backend's id is not reused by the very next image.
    const img3 = compile(parseLoadBalancerText(yaml(`${changed}\n      - { address: 198.18.1.7, mac: "02:00:00:00:01:07" }`)), { previous: img2, ringPerGen: 10_000 });
    assert.equal(img3.backends.find((b) => b.address === '198.18.1.7')!.id, 5);
  });

  it('a service without active backends gets an empty ring and a warning; removed services are stale', () => {
    const img1 = compile(parseLoadBalancerText(yaml(three)), { ringPerGen: 10_000 });
    const lb = parseLoadBalancerText(`apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n  - { name: web, vip: 198.18.0.10:80/tcp, tableSize: 4099, backends: [{ address: 198.18.1.1, state: draining, mac: "02:00:00:00:01:01" }] }\n`);
    const img2 = compile(lb, { previous: img1, ringPerGen: 10_000 });
    assert.ok(img2.ring[0]!.ids.every((v) => v === MAGLEV_EMPTY));
    assert.match(img2.warnings.join('\n'), /web \(198\.18\.0\.10:80\/tcp\) has no active backend/);
    assert.equal(img2.staleServices.length, 1);
    assert.deepEqual(img2.staleServices[0]!.vip, parseAddress('2001:db8::10').bytes);
  });

  it('names missing MACs and an overfull ring with the fix', () => {
    const noMac = yaml('      - { address: 198.18.1.1 }');
    assert.throws(() => compile(parseLoadBalancerText(noMac)), (e: unknown) => {
      assert.ok(e instanceof LbCompileError);
      assert.match(e.message, /^services\[0\]\.backends\[0\]\.mac: dsr-l2 needs the MAC of 198\.18\.1\.1; add mac:/);
      return true;
    });
    const img = compile(parseLoadBalancerText(noMac), { macs: new Map([['198.18.1.1', '02:00:00:00:00:09']]) });
    assert.equal(img.backends[0]!.value.mac, '02:00:00:00:00:09');
    assert.throws(() => compile(parseLoadBalancerText(yaml(three)), { ringPerGen: 4200 }), /services\[1\]\.tableSize: .*need 4350 slots, the ring holds 4200/);
  });

  it('pickBackend follows the live ring at hash % size', () => {
    const img = compile(parseLoadBalancerText(yaml(three)), { ringPerGen: 10_000 });
    const flow = { src: parseAddress('198.18.0.1').bytes, dst: parseAddress('198.18.0.10').bytes, srcPort: 40000, dstPort: 80, proto: 6, family: 4 as const };
    const h = lbFlowHash(flow, '5-tuple');
    assert.equal(pickBackend(img, '198.18.0.10:80/tcp', h), img.ring[0]!.ids[h % 4099]);
    assert.equal(pickBackend(img, '198.18.0.11:80/tcp', h), undefined);
  });
});
