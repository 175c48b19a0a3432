/**
 * The live config as a LoadBalancer document (`xdpkit lb export`), the way `ipvsadm-save` dumps
 * the IPVS table: CLI edits made since the last `lb apply -f` can be saved into the file before
 * the next apply replaces them. The inverse of schema.ts: loading the output gives the same
 * model back (every service spelled out in full, so `defaults` is not needed; fields at their
 * default values are left out).
 */
import YAML from 'yaml';
import { formatExpect, formatServiceKey, type HealthCheck, type LbBackend, type LbService, type LoadBalancer } from './model.js';

const duration = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

function healthCheckDocument(h: HealthCheck): Record<string, unknown> {
  return {
    type: h.type,
    port: h.port,
    ...(h.path !== undefined && { path: h.path }),
    ...(h.expect !== undefined && { expect: formatExpect(h.expect) }),
    ...(h.host !== undefined && { host: h.host }),
    interval: duration(h.intervalMs),
    timeout: duration(h.timeoutMs),
    rise: h.rise,
    fall: h.fall,
  };
}

const backendDocument = (b: LbBackend): Record<string, unknown> => ({
  address: b.address,
  ...(b.weight !== 1 && { weight: b.weight }),
  ...(b.state !== 'active' && { state: b.state }),
  ...(b.mac !== undefined && { mac: b.mac }),
});

const serviceDocument = (s: LbService): Record<string, unknown> => ({
  name: s.name,
  vip: formatServiceKey(s),
  mode: s.mode,
  hash: s.hash,
  tableSize: s.tableSize,
  ...(s.healthCheck && { healthCheck: healthCheckDocument(s.healthCheck) }),
  backends: s.backends.map(backendDocument),
});

export function loadBalancerDocument(lb: LoadBalancer): Record<string, unknown> {
  return { apiVersion: 'xdpkit/v1', kind: 'LoadBalancer', services: lb.services.map(serviceDocument) };
}

/** YAML with one line per backend (flow maps), as people write these files. */
export function loadBalancerYaml(lb: LoadBalancer, comment?: string): string {
  const doc = new YAML.Document(loadBalancerDocument(lb));
  YAML.visit(doc, {
    // MACs quoted, as in the examples: a YAML 1.1 reader would take 02:00:00:00:01:01 for a number.
    Pair(_key, pair) {
      if (YAML.isScalar(pair.key) && pair.key.value === 'mac' && YAML.isScalar(pair.value)) pair.value.type = 'QUOTE_DOUBLE';
    },
    Map(_key, node, path) {
      const parent = path.at(-1);
      // A backend or a health check on one line: { address: 198.18.1.1, weight: 2 }.
      if (YAML.isPair(parent) && YAML.isScalar(parent.key) && parent.key.value === 'healthCheck') node.flow = true;
      if (YAML.isSeq(parent) && path.length >= 2) {
        const owner = path.at(-2);
        if (YAML.isPair(owner) && YAML.isScalar(owner.key) && owner.key.value === 'backends') node.flow = true;
      }
    },
  });
  if (comment !== undefined) doc.commentBefore = comment;
  return doc.toString({ lineWidth: 0 });
}
