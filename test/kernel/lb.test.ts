/**
 * lb (dsr-l2) through BPF_PROG_TEST_RUN, state written by the real compiler and applier: the
 * backend the kernel picks (the MAC it writes) equals the TypeScript computation (lbFlowHash →
 * Maglev slot of the live generation), flows stick through conntrack across a generation flip,
 * non-VIP traffic passes untouched, and the struct layouts match the BTF.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { u32 } from '../../src/bpf/codecs.js';
import { BpfObject } from '../../src/bpf/object.js';
import { setRedirectTarget } from '../../src/programs/configure.js';
import { xdpContext } from '../../src/bpf/test-run.js';
import { applyImage, flipGeneration, prepareGeneration, retireGeneration } from '../../src/lb/apply.js';
import { compileLoadBalancer, pickBackend, type LbImage } from '../../src/lb/compile.js';
import { lbFlowHash } from '../../src/lb/hash.js';
import { readLbStats } from '../../src/lb/stats.js';
import { LB_BACKEND_DOWN, backendCodec, controlCodec, countersCodec, ctValueCodec, decapKeyCodec, flowKeyCodec, serviceCodec, serviceGenCodec, serviceKeyCodec } from '../../src/lb/layout.js';
import { parseAddress, parseLoadBalancerText } from '../../src/lb/schema.js';
import type { StructCodec } from '../../src/bpf/codecs.js';
import { eth, frame, icmp, ip4, ip6, payload, tcp, udp } from '../helpers/frames.js';
import { builtinObject } from '../helpers/paths.js';

const RING = 1 << 16;
const XDP_PASS = 2;
const XDP_TX = 3;
const XDP_DROP = 1;
const XDP_REDIRECT = 4;
const macOf = (i: number) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`;

function config(backends: string[], draining: string[] = []): string {
  const list = backends.map((a) => `      - { address: ${a}, mac: "${macOf(Number(a.split('.')[3]))}"${draining.includes(a) ? ', state: draining' : ''} }`).join('\n');
  return `apiVersion: xdpkit/v1
kind: LoadBalancer
services:
  - name: web
    vip: 198.18.0.10:80/tcp
    tableSize: 4099
    backends:
${list}
  - name: dns6
    vip: "2001:db8::10/udp"
    hash: addresses
    tableSize: 251
    backends:
${list}
`;
}

describe('lb dsr-l2 (BPF_PROG_TEST_RUN)', () => {
  const object = BpfObject.open(builtinObject('lb'));
  after(() => object.close());
  object.setMaxEntries('lb_ring', 2 * RING);
  object.setMaxEntries('lb_conntrack', 4096);
  object.load();
  const prog = object.program('xdp_lb');
  const run = (data: Buffer) => prog.testRun({ data, context: xdpContext(data.length) });
  const macToId = (img: LbImage, mac: string) => img.backends.find((b) => b.value.mac === mac && b.service === 'web')?.id;

  let image = compileLoadBalancer(parseLoadBalancerText(config(['198.18.1.1', '198.18.1.2', '198.18.1.3'])), { ringPerGen: RING });
  applyImage(object, image);

  it('picks the backend the TypeScript computation predicts, for 300 flows', () => {
    for (let p = 0; p < 300; p++) {
      const srcPort = 20000 + p;
      const out = run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, srcPort)]));
      assert.equal(out.retval, XDP_TX);
      const h = lbFlowHash({ src: parseAddress('198.18.0.1').bytes, dst: parseAddress('198.18.0.10').bytes, srcPort, dstPort: 80, proto: 6, family: 4 }, '5-tuple');
      const want = pickBackend(image, '198.18.0.10:80/tcp', h);
      const dstMac = [...out.data.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
      assert.equal(macToId(image, dstMac), want, `flow from port ${srcPort}`);
    }
  });

  it('IPv6, all-ports service, addresses hash: every port of one client goes to one backend', () => {
    const macs = new Set<string>();
    for (let p = 0; p < 20; p++) {
      const out = run(frame([eth(), ip6({ dst: '2001:db8::10' }), udp(1000 + p, 30000 + p)]));
      assert.equal(out.retval, XDP_TX);
      macs.add(out.data.subarray(0, 6).toString('hex'));
    }
    assert.equal(macs.size, 1);
  });

  it('passes non-VIP traffic, other ports and ICMP untouched', () => {
    for (const layers of [
      [eth(), ip4({ dst: '198.18.0.11' }), tcp(80)],
      [eth(), ip4({ dst: '198.18.0.10' }), tcp(81)],
      [eth(), ip4({ dst: '198.18.0.10' }), udp(80)],
      [eth(), ip4({ dst: '198.18.0.10' }), icmp(8), payload('ping')],
    ]) {
      const data = frame(layers);
      const out = run(data);
      assert.equal(out.retval, XDP_PASS);
      assert.deepEqual(out.data, data);
    }
  });

  it('established flows stay on their backend after a flip; draining keeps flows, removed ones move', () => {
    const before = new Map<number, string>();
    for (let p = 0; p < 200; p++) before.set(p, run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, 40000 + p)])).data.subarray(0, 6).toString('hex'));
    // .2 draining, .3 removed, .4 added.
    image = compileLoadBalancer(parseLoadBalancerText(config(['198.18.1.1', '198.18.1.2', '198.18.1.4'], ['198.18.1.2'])), { previous: image, ringPerGen: RING });
    applyImage(object, image);
    const removed = Buffer.from(macOf(3).replace(/:/g, ''), 'hex').toString('hex');
    let moved = 0;
    for (let p = 0; p < 200; p++) {
      const now = run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, 40000 + p)])).data.subarray(0, 6).toString('hex');
      if (before.get(p) === removed) {
        assert.notEqual(now, removed);
        moved++;
      } else assert.equal(now, before.get(p), `flow ${p} stays`);
    }
    assert.ok(moved > 0);
    // New flows avoid the draining backend.
    const draining = Buffer.from(macOf(2).replace(/:/g, ''), 'hex').toString('hex');
    for (let p = 0; p < 200; p++) assert.notEqual(run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, 50000 + p)])).data.subarray(0, 6).toString('hex'), draining);
  });

  it('with lb_egress slot 0 set, balanced frames are redirected there (two-armed); cleared, XDP_TX again', () => {
    const flow = () => run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, 45000)]));
    assert.equal(flow().retval, XDP_TX);
    const egress = object.map('lb_egress');
    setRedirectTarget(egress, 0, 'lo');
    try {
      const out = flow();
      assert.equal(out.retval, XDP_REDIRECT);
      assert.ok(image.backends.some((b) => b.service === 'web' && b.value.mac === [...out.data.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':')), 'rewritten to a backend MAC as before');
      const other = frame([eth(), ip4({ dst: '198.18.0.11' }), tcp(80)]);
      assert.equal(run(other).retval, XDP_PASS, 'non-VIP traffic is not redirected');
    } finally {
      egress.withCodecs(u32, u32).delete(0);
    }
    assert.equal(flow().retval, XDP_TX);
  });

  it('drops new flows to a VIP without an active backend', () => {
    image = compileLoadBalancer(parseLoadBalancerText(config(['198.18.1.1'], ['198.18.1.1'])), { previous: image, ringPerGen: RING });
    applyImage(object, image);
    assert.equal(run(frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, 61000)])).retval, XDP_DROP);
  });
});

describe('lb apply phases: a backend going down is marked only after the flip (BPF_PROG_TEST_RUN between the phases)', () => {
  const object = BpfObject.open(builtinObject('lb'));
  after(() => object.close());
  object.setMaxEntries('lb_ring', 2 * RING);
  object.setMaxEntries('lb_conntrack', 4096);
  object.load();
  const prog = object.program('xdp_lb');
  const backends = object.map('lb_backends').withCodecs(u32, backendCodec);
  const all = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];
  const model = parseLoadBalancerText(config(all));
  const down3 = new Set(['web|198.18.1.3']);

  /** The destination MAC the kernel writes for the web flow from port `p`. */
  const sent = (p: number) => {
    const out = prog.testRun({ data: frame([eth(), ip4({ dst: '198.18.0.10' }), tcp(80, p)]), context: xdpContext(14 + 20 + 20) });
    assert.equal(out.retval, XDP_TX);
    return [...out.data.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  };
  /** The MAC `img`'s ring gives that flow. */
  const ringSays = (img: LbImage, p: number) => {
    const h = lbFlowHash({ src: parseAddress('198.18.0.1').bytes, dst: parseAddress('198.18.0.10').bytes, srcPort: p, dstPort: 80, proto: 6, family: 4 }, '5-tuple');
    const id = pickBackend(img, '198.18.0.10:80/tcp', h);
    return img.backends.find((b) => b.id === id && b.service === 'web')!.value.mac;
  };
  const ports = (first: number) => Array.from({ length: 300 }, (_, i) => first + i);

  const image0 = compileLoadBalancer(model, { ringPerGen: RING });
  applyImage(object, image0);
  const victim = image0.backends.find((b) => b.service === 'web' && b.address === '198.18.1.3')!;
  const established = new Map(ports(30000).map((p) => [p, sent(p)]));

  it('down: before the flip nothing the live generation decides changes; after it, new flows avoid the backend; then its flows move', () => {
    assert.ok([...established.values()].includes(victim.value.mac), 'some established flows are on the backend going down');
    const image1 = compileLoadBalancer(model, { previous: image0, ringPerGen: RING, down: down3 });

    const leaving = prepareGeneration(object, image1);
    assert.deepEqual(leaving.map((b) => b.id), [victim.id], 'only the backend going down waits for the flip');
    assert.equal(backends.get(victim.id)!.flags & LB_BACKEND_DOWN, 0, 'not marked down while the old ring is live');
    // Marked down here, its flows would be re-picked through the old ring on every packet (landing
    // on it again, counted as new flows, their conntrack entries rewritten with a refused backend).
    const newFlows = () => readLbStats(object, image0).backends.find((b) => b.id === victim.id)!.newFlows;
    const before = newFlows();
    for (const [p, mac] of established) assert.equal(sent(p), mac, `established flow ${p} stays where it was`);
    assert.equal(newFlows(), before, 'established flows are conntrack hits, not re-picked');
    for (const p of ports(50000)) assert.equal(sent(p), ringSays(image0, p), `new flow ${p} follows the live (old) ring`);

    flipGeneration(object, image1);
    for (const p of ports(51000)) {
      assert.equal(sent(p), ringSays(image1, p), `new flow ${p} follows the new ring`);
      assert.notEqual(sent(p), victim.value.mac);
    }

    retireGeneration(object, image1, leaving);
    assert.notEqual(backends.get(victim.id)!.flags & LB_BACKEND_DOWN, 0);
    for (const [p, mac] of established) assert.equal(sent(p), mac === victim.value.mac ? ringSays(image1, p) : mac, `flow ${p}: moved through the new ring only if it was on the down backend`);

    // Back up: cleared before the flip (the new ring holds it again; the old one never lost a flow to it).
    const image2 = compileLoadBalancer(model, { previous: image1, ringPerGen: RING });
    assert.deepEqual(prepareGeneration(object, image2), []);
    assert.equal(backends.get(victim.id)!.flags & LB_BACKEND_DOWN, 0, 'up again before the flip');
    for (const p of ports(52000)) assert.equal(sent(p), ringSays(image1, p), `new flow ${p} still follows the live ring`);
    flipGeneration(object, image2);
    retireGeneration(object, image2, []);
    for (const p of ports(53000)) assert.equal(sent(p), ringSays(image2, p));
  });
});

describe('lb struct layouts: TypeScript codecs against the BTF', () => {
  interface BtfStruct { kind: string; name: string; size: number; members: { name: string; bits_offset: number }[] }
  const btf = (object: string) => JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', builtinObject(object)], { encoding: 'utf8' })) as { types: BtfStruct[] };
  const dumps = { lb: btf('lb'), lb_decap: btf('lb_decap') };
  const check = (codec: StructCodec<never>, name: string, object: keyof typeof dumps = 'lb') => {
    const c = dumps[object].types.find((t) => t.kind === 'STRUCT' && t.name === name);
    assert.ok(c, name);
    assert.equal(codec.size, c.size, `sizeof(struct ${name})`);
    const camel = (s: string) => s.replace(/_([a-z])/g, (_, x: string) => x.toUpperCase());
    assert.deepEqual(c.members.map((m) => [camel(m.name), m.bits_offset / 8]), Object.entries(codec.offsets), `offsets of ${name}`);
  };
  it('match', () => {
    check(serviceKeyCodec as StructCodec<never>, 'lb_service_key');
    check(serviceGenCodec as StructCodec<never>, 'lb_service_gen');
    check(serviceCodec as StructCodec<never>, 'lb_service');
    check(backendCodec as StructCodec<never>, 'lb_backend');
    check(flowKeyCodec as StructCodec<never>, 'lb_flow_key');
    check(ctValueCodec as StructCodec<never>, 'lb_ct_value');
    check(controlCodec as StructCodec<never>, 'lb_control');
    check(countersCodec as StructCodec<never>, 'lb_counters');
    check(decapKeyCodec as StructCodec<never>, 'lb_decap_key', 'lb_decap');
  });
});
