import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLbDiff, diffLoadBalancers, undoesLiveConfig } from '../../src/lb/diff.js';
import { addBackend, setBackendState, setBackendWeight } from '../../src/lb/edit.js';
import { loadBalancerYaml } from '../../src/lb/export.js';
import { parseLoadBalancerText } from '../../src/lb/schema.js';

const FILE = `apiVersion: xdpkit/v1
kind: LoadBalancer
services:
  - name: web
    vip: 198.18.0.10:80/tcp
    tableSize: 4099
    healthCheck: { type: http, path: /healthz, expect: [200, 3xx], host: www.example.com, interval: 500ms, timeout: 250ms, rise: 3 }
    backends:
      - { address: 198.18.1.1, mac: "02:00:00:00:01:01" }
      - { address: 198.18.1.2, weight: 2, state: draining }
  - name: dns
    vip: "[2001:db8::10]:53/udp"
    mode: ipip
    hash: addresses
    tableSize: 251
    backends: [{ address: "2001:db8:1::1" }]
`;

describe('lb diff: what an apply changes against the live config', () => {
  it('the same config: no changes', () => {
    const lb = parseLoadBalancerText(FILE);
    const d = diffLoadBalancers(lb, parseLoadBalancerText(FILE));
    assert.equal(d.unchanged, true);
    assert.deepEqual(describeLbDiff(d), ['no changes: the live config is the same']);
    assert.equal(undoesLiveConfig(d), false);
  });

  it('CLI edits on the live config show as what the file undoes', () => {
    const file = parseLoadBalancerText(FILE);
    let live = addBackend(file, 'web', { address: '198.18.1.3', weight: 5, mac: '02:00:00:00:01:03' });
    live = setBackendState(live, 'web', '198.18.1.2', 'active');
    live = setBackendWeight(live, 'web', '198.18.1.1', 4);
    live = { services: [...live.services, { ...file.services[0]!, name: 'extra', port: 8080, backends: [] }] };
    // Applying the file to that live config:
    const d = diffLoadBalancers(live, file);
    assert.equal(d.unchanged, false);
    assert.equal(undoesLiveConfig(d), true);
    assert.deepEqual(describeLbDiff(d), [
      '- service extra 198.18.0.10:8080/tcp (backends: 0)',
      '~ service web 198.18.0.10:80/tcp',
      '    - backend 198.18.1.3',
      '    ~ backend 198.18.1.1: weight 4 → 1',
      '    ~ backend 198.18.1.2: state active → draining',
    ]);
    // The other way round: what the edits added.
    assert.deepEqual(describeLbDiff(diffLoadBalancers(file, live)), [
      '+ service extra 198.18.0.10:8080/tcp: dsr-l2, backends: 0',
      '~ service web 198.18.0.10:80/tcp',
      '    + backend 198.18.1.3 weight 5',
      '    ~ backend 198.18.1.1: weight 1 → 4',
      '    ~ backend 198.18.1.2: state draining → active',
    ]);
  });

  it("a service's own fields, health check and MACs; identity is the VIP:port/proto", () => {
    const before = parseLoadBalancerText(FILE);
    const after = parseLoadBalancerText(
      FILE.replace('name: web', 'name: www')
        .replace('tableSize: 4099', 'tableSize: 16411')
        .replace('rise: 3', 'rise: 2')
        .replace('{ address: 198.18.1.1, mac: "02:00:00:00:01:01" }', '{ address: 198.18.1.1 }')
        .replace('mode: ipip', 'mode: dsr-l2'),
    );
    const d = diffLoadBalancers(before, after);
    assert.deepEqual(describeLbDiff(d), [
      '~ service www 198.18.0.10:80/tcp: name web → www; tableSize 4099 → 16411; healthCheck http:80/healthz every 0.5s timeout 0.25s rise 3 fall 3 expect 200, 300-399 host www.example.com → http:80/healthz every 0.5s timeout 0.25s rise 2 fall 3 expect 200, 300-399 host www.example.com',
      '    ~ backend 198.18.1.1: mac 02:00:00:00:01:01 → (neighbour table)',
      '~ service dns [2001:db8::10]:53/udp: mode ipip → dsr-l2',
    ]);
  });

  it('without a live config everything is added; an apply that only adds undoes nothing', () => {
    const lb = parseLoadBalancerText(FILE);
    const d = diffLoadBalancers(undefined, lb);
    assert.equal(d.live, false);
    assert.deepEqual(d.services.added.map((s) => [s.name, s.vip, s.mode, s.backends]), [['web', '198.18.0.10:80/tcp', 'dsr-l2', 2], ['dns', '[2001:db8::10]:53/udp', 'ipip', 1]]);
    const grown = addBackend(lb, 'dns', { address: '2001:db8:1::2' });
    assert.equal(undoesLiveConfig(diffLoadBalancers(lb, grown)), false);
  });
});

describe('lb export: the live config as a document', () => {
  it('loads back to the same model, edits included', () => {
    const live = setBackendWeight(addBackend(parseLoadBalancerText(FILE), 'dns', { address: '2001:db8:1::2', mac: '02:00:00:00:02:02' }), 'web', '198.18.1.1', 7);
    const yaml = loadBalancerYaml(live, ' exported for a test');
    const back = parseLoadBalancerText(yaml);
    assert.deepEqual(back, live);
    assert.equal(diffLoadBalancers(live, back).unchanged, true);
    assert.match(yaml, /^# exported for a test\n\napiVersion: xdpkit\/v1\nkind: LoadBalancer\n/);
    // One line per backend and per health check, as people write these files.
    assert.match(yaml, /^ {6}- \{ address: 198\.18\.1\.1, weight: 7, mac: "02:00:00:00:01:01" \}$/m);
    assert.match(yaml, /^ {4}healthCheck: \{ type: http, port: 80, path: \/healthz, expect: "200, 300-399", host: www\.example\.com, interval: 500ms, timeout: 250ms, rise: 3, fall: 3 \}$/m);
  });
});
