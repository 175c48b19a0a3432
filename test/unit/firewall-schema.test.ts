import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBlocklistText, parsePolicyText, PolicyError } from '../../src/firewall/load.js';

const head = 'apiVersion: xdpkit/v1\nkind: FirewallPolicy\n';

function issues(text: string, files: Record<string, string> = {}): string[] {
  try {
    parsePolicyText(text, { readFile: (p) => { const k = Object.keys(files).find((f) => p.endsWith(f)); if (k === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' }); return files[k]!; } });
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a PolicyError');
}

describe('firewall policy schema', () => {
  it('loads the example policy of the issue (YAML) and the same as JSON', () => {
    const yaml = `${head}default: pass
malformed: drop
blocklists:
  - name: bogons
    file: bogons.txt
rules:
  - name: dns-from-office
    action: pass
    proto: udp
    src: [198.18.1.0/24, "2001:db8:1::/48"]
    dst: [198.18.0.53]
    srcPorts: [53, "1024-65535"]
    dstPorts: [53]
  - name: syn-flood
    action: rate-limit
    proto: tcp
    tcpFlags: "syn,!ack"
    rate: { pps: 1000, burst: 2000 }
mitigation:
  threshold: { pps: 50000 }
  blockFor: 60s
`;
    const p = parsePolicyText(yaml, { readFile: () => '# bogons\n0.0.0.0/8\n\n2001:db8:dead::/48 # doc\n198.18.0.1\n' });
    assert.equal(p.rules.length, 2);
    assert.deepEqual(p.rules[0]!.srcPorts, [{ from: 53, to: 53 }, { from: 1024, to: 65535 }]);
    assert.equal(p.rules[0]!.proto, 17);
    assert.deepEqual(p.rules[1]!.tcpFlags, { mask: 0x12, value: 0x02, text: 'syn,!ack' });
    assert.deepEqual(p.rules[1]!.rate, { pps: 1000, burst: 2000 });
    assert.deepEqual(p.blocklists[0]!.entries.map((e) => e.prefixLen), [8, 48, 32]);
    assert.deepEqual(p.mitigation, { thresholdPps: 50000, blockForSeconds: 60 });
    const json = JSON.stringify({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', rules: [{ action: 'drop', proto: 17, dstPorts: ['53'] }] });
    assert.deepEqual(parsePolicyText(json).rules[0]!.dstPorts, [{ from: 53, to: 53 }]);
    assert.equal(parsePolicyText(json).default, 'pass');
    assert.equal(parsePolicyText(json).malformed, 'drop');
  });

  const cases: [string, string, RegExp][] = [
    ['not YAML', 'a: [1,', /not valid YAML\/JSON/],
    ['wrong apiVersion', 'apiVersion: v2\nkind: FirewallPolicy\n', /^apiVersion: must be xdpkit\/v1/],
    ['missing kind', 'apiVersion: xdpkit/v1\n', /^kind: is required: FirewallPolicy/],
    ['bad default', `${head}default: reject\n`, /^default: must be pass or drop/],
    ['bad malformed', `${head}malformed: maybe\n`, /^malformed: must be pass or drop/],
    ['unknown top-level field', `${head}rulez: []\n`, /^rulez: unknown field "rulez"; did you mean "rules"\?/],
    ['rules not a list', `${head}rules: {}\n`, /^rules: must be a list of rules/],
    ['missing action', `${head}rules:\n  - proto: udp\n`, /^rules\[0\]\.action: is required/],
    ['bad action', `${head}rules:\n  - action: reject\n`, /^rules\[0\]\.action: must be pass, drop or rate-limit/],
    ['unknown rule field', `${head}rules:\n  - action: drop\n    dstPort: [53]\n`, /^rules\[0\]\.dstPort: unknown field "dstPort"; did you mean "dstPorts"\?/],
    ['bad proto name', `${head}rules:\n  - action: drop\n    proto: sctp\n`, /^rules\[0\]\.proto: "sctp" is not a protocol; use tcp, udp, icmp, icmpv6 or a number 0\.\.255/],
    ['proto out of range', `${head}rules:\n  - action: drop\n    proto: 256\n`, /^rules\[0\]\.proto: protocol 256 is not an integer in 0\.\.255/],
    ['bad CIDR', `${head}rules:\n  - action: drop\n    src: [198.18.0.0/15, 10.0.0.300]\n`, /^rules\[0\]\.src\[1\]: "10\.0\.0\.300" is not an IPv4 or IPv6 address/],
    ['prefix too long', `${head}rules:\n  - action: drop\n    dst: [198.18.0.0/33]\n`, /^rules\[0\]\.dst\[0\]: .*prefix length is 0\.\.32/],
    ['host bits', `${head}rules:\n  - action: drop\n    dst: ["2001:db8::1/32"]\n`, /^rules\[0\]\.dst\[0\]: .*host bits set after \/32; write 2001:db8::\/32/],
    ['empty src', `${head}rules:\n  - action: drop\n    src: []\n`, /^rules\[0\]\.src: an empty list matches nothing; omit the field/],
    ['port out of range', `${head}rules:\n  - action: drop\n    proto: tcp\n    dstPorts: [80, 70000]\n`, /^rules\[0\]\.dstPorts\[1\]: port 70000 is not an integer in 0\.\.65535/],
    ['reversed range', `${head}rules:\n  - action: drop\n    proto: tcp\n    srcPorts: ["2000-1000"]\n`, /^rules\[0\]\.srcPorts\[0\]: .*write "1000-2000"/],
    ['bad range text', `${head}rules:\n  - action: drop\n    proto: tcp\n    srcPorts: ["http"]\n`, /^rules\[0\]\.srcPorts\[0\]: "http" is not a port or a range/],
    ['ports with icmp', `${head}rules:\n  - action: drop\n    proto: icmp\n    dstPorts: [1]\n`, /^rules\[0\]\.dstPorts: ports need proto tcp or udp \(this rule has proto icmp\)/],
    ['flags without tcp', `${head}rules:\n  - action: drop\n    proto: udp\n    tcpFlags: syn\n`, /^rules\[0\]\.tcpFlags: tcpFlags need proto: tcp \(this rule has proto udp\)/],
    ['flags without proto', `${head}rules:\n  - action: drop\n    tcpFlags: syn\n`, /^rules\[0\]\.tcpFlags: tcpFlags need proto: tcp \(this rule has no proto\)/],
    ['unknown flag', `${head}rules:\n  - action: drop\n    proto: tcp\n    tcpFlags: "syn,!ak"\n`, /^rules\[0\]\.tcpFlags: "ak" is not a TCP flag/],
    ['flag twice', `${head}rules:\n  - action: drop\n    proto: tcp\n    tcpFlags: "syn,!syn"\n`, /^rules\[0\]\.tcpFlags: flag "syn" is given twice/],
    ['rate-limit without rate', `${head}rules:\n  - action: rate-limit\n`, /^rules\[0\]\.rate: action rate-limit needs rate/],
    ['rate without rate-limit', `${head}rules:\n  - action: drop\n    rate: { pps: 5 }\n`, /^rules\[0\]\.rate: rate is only for action rate-limit/],
    ['rate pps zero', `${head}rules:\n  - action: rate-limit\n    rate: { pps: 0 }\n`, /^rules\[0\]\.rate\.pps: pps must be at least 1/],
    ['families never meet', `${head}rules:\n  - action: drop\n    src: [198.18.0.0/15]\n    dst: ["2001:db8::/32"]\n`, /^rules\[0\]\.dst: src lists only IPv4 and dst only IPv6: the rule can never match/],
    ['duplicate rule name', `${head}rules:\n  - { name: a, action: drop }\n  - { name: a, action: pass }\n`, /^rules\[1\]\.name: "a" is already the name of rules\[0\]/],
    ['blocklist without source', `${head}blocklists:\n  - name: x\n`, /^blocklists\[0\]: needs file: PATH or entries/],
    ['blocklist with both', `${head}blocklists:\n  - { name: x, file: a.txt, entries: [] }\n`, /^blocklists\[0\]: has both file and entries/],
    ['duplicate blocklist name', `${head}blocklists:\n  - { name: x, entries: [] }\n  - { name: x, entries: [] }\n`, /^blocklists\[1\]\.name: "x" is already the name/],
    ['missing blocklist file', `${head}blocklists:\n  - { name: x, file: gone.txt }\n`, /^blocklists\[0\]\.file: .*gone\.txt does not exist; blocklist paths are relative to the policy file/],
    ['bad blocklist entry', `${head}blocklists:\n  - { name: x, entries: [1.2.3.4, nope] }\n`, /^blocklists\[0\]\.entries\[1\]: "nope" is not an IPv4 or IPv6 address/],
    ['bad mitigation duration', `${head}mitigation:\n  threshold: { pps: 10 }\n  blockFor: soon\n`, /^mitigation\.blockFor: "soon" is not a duration; write e\.g\. 60s/],
    ['mitigation without threshold', `${head}mitigation:\n  blockFor: 60s\n`, /^mitigation\.threshold: is required/],
    ['not a mapping', '- a\n', /a policy must be a mapping with apiVersion: xdpkit\/v1 and kind: FirewallPolicy/],
    ['rule not a mapping', `${head}rules:\n  - drop\n`, /^rules\[0\]: must be a rule: \{ name, action/],
    ['empty rule name', `${head}rules:\n  - { name: "", action: drop }\n`, /^rules\[0\]\.name: must not be empty/],
    ['rule name not a string', `${head}rules:\n  - { name: [a], action: drop }\n`, /^rules\[0\]\.name: must be a string/],
    ['a default rule name taken', `${head}rules:\n  - { name: rule-1, action: drop }\n  - { action: pass }\n`, /^rules\[1\]\.name: "rule-1" is already the name of rules\[0\]/],
    ['src not a list', `${head}rules:\n  - action: drop\n    src: 198.18.0.0/15\n`, /^rules\[0\]\.src: must be a list of addresses or CIDRs/],
    ['empty dstPorts', `${head}rules:\n  - action: drop\n    proto: tcp\n    dstPorts: []\n`, /^rules\[0\]\.dstPorts: an empty list matches nothing; omit the field to match any port/],
    ['fractional port', `${head}rules:\n  - action: drop\n    proto: tcp\n    dstPorts: [53.5]\n`, /^rules\[0\]\.dstPorts\[0\]: port 53\.5 is not an integer in 0\.\.65535/],
    ['range beyond 65535', `${head}rules:\n  - action: drop\n    proto: tcp\n    srcPorts: ["70000-70001"]\n`, /^rules\[0\]\.srcPorts\[0\]: "70000-70001" is outside 0\.\.65535/],
    ['fractional proto', `${head}rules:\n  - action: drop\n    proto: 6.5\n`, /^rules\[0\]\.proto: protocol 6\.5 is not an integer in 0\.\.255/],
    ['empty tcpFlags', `${head}rules:\n  - action: drop\n    proto: tcp\n    tcpFlags: ""\n`, /^rules\[0\]\.tcpFlags: "" is not a flag list/],
    ['tcpFlags not a string', `${head}rules:\n  - action: drop\n    proto: tcp\n    tcpFlags: 2\n`, /^rules\[0\]\.tcpFlags: must be a string such as "syn,!ack"/],
    ['rate burst zero', `${head}rules:\n  - action: rate-limit\n    rate: { pps: 5, burst: 0 }\n`, /^rules\[0\]\.rate\.burst: burst must be at least 1/],
    ['fractional pps', `${head}rules:\n  - action: rate-limit\n    rate: { pps: 1.5 }\n`, /^rules\[0\]\.rate\.pps: pps must be a whole number/],
    ['unknown rate field', `${head}rules:\n  - action: rate-limit\n    rate: { pps: 5, brust: 5 }\n`, /^rules\[0\]\.rate\.brust: unknown field "brust"; did you mean "burst"\?/],
    ['blocklists not a list', `${head}blocklists: {}\n`, /^blocklists: must be a list of blocklists/],
    ['empty blocklist name', `${head}blocklists:\n  - { name: "", entries: [] }\n`, /^blocklists\[0\]\.name: must not be empty/],
    ['blocklist entries not a list', `${head}blocklists:\n  - { name: x, entries: 198.18.0.1 }\n`, /^blocklists\[0\]\.entries: must be a list of addresses or CIDRs/],
    ['mitigation threshold zero', `${head}mitigation:\n  threshold: { pps: 0 }\n  blockFor: 60s\n`, /^mitigation\.threshold\.pps: pps must be at least 1/],
    ['mitigation blockFor zero', `${head}mitigation:\n  threshold: { pps: 10 }\n  blockFor: 0\n`, /^mitigation\.blockFor: 0 is not a positive number of seconds/],
    ['mitigation blockFor 0s', `${head}mitigation:\n  threshold: { pps: 10 }\n  blockFor: 0s\n`, /^mitigation\.blockFor: "0s" must be longer than zero/],
    ['unknown mitigation field', `${head}mitigation:\n  threshold: { pps: 10 }\n  blockFor: 60s\n  blockfor: 5s\n`, /^mitigation\.blockfor: unknown field "blockfor"; did you mean "blockFor"\?/],
  ];
  for (const [name, text, re] of cases) {
    it(`error: ${name}`, () => {
      const got = issues(text);
      assert.ok(got.some((l) => re.test(l)), `no issue matches ${re}: ${JSON.stringify(got)}`);
    });
  }

  it('a bad line in a blocklist file names the file and the line', () => {
    const got = issues(`${head}blocklists:\n  - { name: bogons, file: b.txt }\n`, { 'b.txt': '# c\n198.18.0.0/15\n\n198.18.0.1/8\n' });
    assert.deepEqual(got, ['blocklists[0].file (b.txt) line 4: "198.18.0.1/8" has host bits set after /8; write 198.0.0.0/8 (or 198.18.0.1/32 for the single address)']);
  });

  it('reports every problem at once with one line each', () => {
    const got = issues(`${head}rules:\n  - { action: drop, proto: tcp, dstPorts: [99999] }\n  - { action: rate-limit }\n`);
    assert.equal(got.length, 2);
    const e = (() => { try { parsePolicyText(`${head}rules:\n  - { action: drop, proto: tcp, dstPorts: [99999] }\n  - { action: rate-limit }\n`, { source: 'p.yaml' }); } catch (x) { return x as PolicyError; } return undefined; })()!;
    assert.equal(e.message, 'p.yaml: 2 problems');
    assert.match(e.details!, /rules\[0\]\.dstPorts\[0\]/);
  });

  it('blocklist text: comments, blank lines, addresses and CIDRs of both families', () => {
    const r = parseBlocklistText('# header\n\n198.18.0.0/15  # lab\n2001:db8::1\n  198.19.0.1\n', 'x');
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.entries.map((e) => [e.family, e.prefixLen]), [[4, 15], [6, 128], [4, 32]]);
  });
});
