/**
 * The load balancer (bpf/lb.c) as forwarders in the benchmark: the generator's frames go to the
 * VIP, the load balancer picks a backend (service lookup, conntrack, Maglev on a miss), rewrites
 * the destination MAC (dsr-l2) and redirects the frame through lb_egress to the sink, so it is
 * judged against the minimal XDP forwarder (xdp-fwd) and nftables DNAT on the same hop.
 *
 * Shapes: 1 or 1,000 services and 10 or 1,000 backends on the measured VIP:port. The other
 * 999 services sit on other VIPs with 2 backends and a 1,021-slot table each (1,000 services ×
 * 65,537 slots would not fit the ring); every backend's MAC is the sink's. The image is
 * compiled once per shape and traffic and written through the same applier `lb apply` uses.
 */
import ipaddr from 'ipaddr.js';
import type { BpfObject } from '../bpf/index.js';
import { applyImage } from '../lb/apply.js';
import { compileLoadBalancer, type LbImage } from '../lb/compile.js';
import { DEFAULT_CONNTRACK, lbObjectPath } from '../lb/deploy.js';
import { loadBalancerFromObject } from '../lb/schema.js';
import { setRedirectTarget } from '../programs/configure.js';
import type { Scenario, ScenarioEnv, ScenarioHandle, Traffic } from './scenarios.js';

/** scenarios.ts's loader of an XDP scenario (passed in, so this module imports only its types). */
export type XdpScenarioLoader = (env: ScenarioEnv, objectPath: string, program: string, configure?: (o: BpfObject) => void, prepare?: (o: BpfObject) => void) => Promise<ScenarioHandle>;

const SHAPES = [
  { services: 1, backends: 10 },
  { services: 1, backends: 1000 },
  { services: 1000, backends: 10 },
  { services: 1000, backends: 1000 },
] as const;

const OTHER_TABLE = 1021;
const MIN_RING = 1 << 16;

/** Address number i (≥ 1) of a block no testbed link uses for the VIP's family. */
function nthAddress(family: 4 | 6, block: number, i: number): string {
  if (family === 4) return ipaddr.fromByteArray([198, 19, block + (i >> 8), i & 255]).toString();
  return `2001:db8:ffff:${block.toString(16)}::${i.toString(16)}`;
}

function lbModel(env: ScenarioEnv, services: number, backends: number): ReturnType<typeof loadBalancerFromObject> {
  const { family, protocol } = env.traffic;
  const host = (a: string) => (family === 6 ? `[${a}]` : a);
  const backend = (block: number, i: number) => ({ address: nthAddress(family, block, i), mac: env.forward.sinkMac });
  const measured = {
    name: 'measured',
    vip: `${host(env.forward.vip)}:${env.dropPort}/${protocol}`,
    backends: Array.from({ length: backends }, (_, i) => backend(0, i + 1)),
  };
  // Other VIPs on another port than the measured one, so none can be the measured service.
  const others = Array.from({ length: services - 1 }, (_, i) => ({
    name: `other-${i}`,
    vip: `${host(nthAddress(family, 100, i + 1))}:${env.dropPort + 1}/${protocol}`,
    tableSize: OTHER_TABLE,
    backends: [backend(16, 2 * i + 1), backend(16, 2 * i + 2)],
  }));
  return loadBalancerFromObject({ apiVersion: 'xdpkit/v1', kind: 'LoadBalancer', defaults: { mode: 'dsr-l2' }, services: [measured, ...others] }, 'benchmark load balancer');
}

const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

const compiled = new Map<string, { image: LbImage; ringPerGen: number }>();

function imageFor(env: ScenarioEnv, services: number, backends: number): { image: LbImage; ringPerGen: number } {
  const key = `${services}/${backends}/${env.traffic.protocol}/${env.traffic.family}/${env.forward.vip}/${env.dropPort}/${env.forward.sinkMac}`;
  let entry = compiled.get(key);
  if (!entry) {
    const model = lbModel(env, services, backends);
    const ringPerGen = Math.max(MIN_RING, pow2AtLeast(model.services.reduce((n, s) => n + s.tableSize, 0)));
    entry = { image: compileLoadBalancer(model, { ringPerGen }), ringPerGen };
    compiled.set(key, entry);
  }
  return entry;
}

const tcpOrUdp = (traffic: Traffic): string | undefined => (traffic.protocol === 'icmp' ? 'balances TCP and UDP only' : undefined);

export function lbScenarios(xdpScenario: XdpScenarioLoader): Scenario[] {
  return SHAPES.map(({ services, backends }) => ({
    name: `lb-s${services}-b${backends}`,
    group: 'forward',
    description: `xdpkit lb: ${services} service${services > 1 ? 's' : ''}, ${backends} backends on the VIP; conntrack, Maglev, dsr-l2 MAC rewrite, redirected (lb_egress) to the sink`,
    unsupported: tcpOrUdp,
    setup(env) {
      const { image, ringPerGen } = imageFor(env, services, backends);
      return xdpScenario(
        env,
        lbObjectPath(),
        'xdp_lb',
        (o) => {
          o.setMaxEntries('lb_ring', 2 * ringPerGen);
          // Room for every flow of the traffic, as a deployment would size it: an LRU map evicts
          // established flows long before it is full when it is too small.
          o.setMaxEntries('lb_conntrack', Math.max(DEFAULT_CONNTRACK, pow2AtLeast(2 * env.forward.flows)));
        },
        (o) => {
          applyImage(o, image);
          setRedirectTarget(o.map('lb_egress'), 0, String(env.forward.ifindex));
        },
      );
    },
  }));
}
