/** fw diff's comparison of two policies (pure): what counts as moved, changed and unchanged. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffPolicies } from '../../src/firewall/diff.js';
import { policyFromObject } from '../../src/firewall/load.js';
import { snapshotPolicy, type PolicySnapshot } from '../../src/firewall/snapshot.js';

const snap = (rules: unknown[], extra: Record<string, unknown> = {}): PolicySnapshot =>
  snapshotPolicy(policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', rules, ...extra }));
const rule = (name: string, port = 1): unknown => ({ name, action: 'drop', proto: 'udp', dstPorts: [port] });

describe('fw diff', () => {
  it('the same policy is unchanged; without a live one everything is added', () => {
    const p = snap([rule('a'), rule('b')], { blocklists: [{ name: 'l', entries: ['198.18.0.0/24'] }] });
    assert.equal(diffPolicies(p, p).unchanged, true);
    const first = diffPolicies(undefined, p);
    assert.equal(first.live, false);
    assert.equal(first.unchanged, false);
    assert.deepEqual(first.rules.added.map((r) => r.name), ['a', 'b']);
    assert.deepEqual(first.blocklists.added, [{ name: 'l', prefixes: 1 }]);
  });

  it('a rule inserted at the top or removed moves nothing', () => {
    const before = snap([rule('a'), rule('b'), rule('c')]);
    assert.deepEqual(diffPolicies(before, snap([rule('new'), rule('a'), rule('b'), rule('c')])).rules.moved, []);
    assert.deepEqual(diffPolicies(before, snap([rule('a'), rule('c')])).rules.moved, []);
  });

  it('moves are the fewest rules whose relative order changed', () => {
    const before = snap(['a', 'b', 'c', 'd', 'e'].map((n) => rule(n)));
    const d = diffPolicies(before, snap(['b', 'c', 'd', 'e', 'a'].map((n) => rule(n))));
    assert.deepEqual(d.rules.moved, [{ name: 'a', from: 0, to: 4 }]);
    const swapped = diffPolicies(before, snap(['a', 'd', 'c', 'b', 'e'].map((n) => rule(n))));
    assert.equal(swapped.rules.moved.length, 2, 'reversing b..d keeps one of the three in place');
    assert.equal(swapped.rules.changed.length, 0);
  });

  it('a changed field shows old and new text; a field given or dropped shows (none) on its side', () => {
    const d = diffPolicies(snap([{ name: 'r', action: 'drop', proto: 'tcp', dstPorts: [22], tcpFlags: 'syn,!ack' }]), snap([{ name: 'r', action: 'rate-limit', proto: 'tcp', dstPorts: ['20-22'], rate: { pps: 10 } }]));
    assert.deepEqual(d.rules.changed, [
      {
        name: 'r',
        changes: [
          { field: 'action', from: 'drop', to: 'rate-limit' },
          { field: 'dstPorts', from: '22', to: '20-22' },
          { field: 'tcpFlags', from: 'syn,!ack' },
          { field: 'rate', to: '10 pps, burst 10' },
        ],
      },
    ]);
  });

  it('blocklists count distinct prefixes added and removed, whatever the order and duplicates', () => {
    const list = (entries: string[]) => snap([], { blocklists: [{ name: 'l', entries }] });
    const before = list(['198.18.0.0/24', '2001:db8::/48', '198.18.1.0/24']);
    assert.equal(diffPolicies(before, list(['198.18.1.0/24', '2001:db8::/48', '198.18.0.0/24'])).unchanged, true, 'reordered: the same set');
    const d = diffPolicies(before, list(['198.18.1.0/24', '198.18.1.0/24', '2001:db8::/48', '2001:db8::/64', '198.18.2.0/24']));
    assert.deepEqual(d.blocklists.changed, [{ name: 'l', added: 2, removed: 1, prefixes: 5 }]);
    // Same bytes, other family: 0.0.0.0/0 and ::/0 differ.
    assert.deepEqual(diffPolicies(list(['0.0.0.0/0']), list(['::/0'])).blocklists.changed, [{ name: 'l', added: 1, removed: 1, prefixes: 1 }]);
  });
});
