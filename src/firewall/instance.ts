/**
 * A private firewall instance for BPF_PROG_TEST_RUN: bpf/firewall.c loaded with
 * fw_record_decision set, so that each run leaves its decision (kind, rule or blocklist,
 * verdict, rate-limited) in fw_decision_map. `fw test` and the kernel tests use it; an
 * instance attached to an interface never records (the constant is 0 there and the code is
 * removed at load).
 */
import { join } from 'node:path';
import { BpfObject } from '../bpf/object.js';
import { xdpContext } from '../bpf/test-run.js';
import type { BpfProgram } from '../bpf/program.js';
import { packageRoot } from '../programs/catalogue.js';
import { applyCompiled, type ApplyOptions, type ApplyResult, type MapSource } from './apply.js';
import { u32, type CompiledPolicy } from './compile.js';
import { fwDecisionCodec } from './layout.js';

export const FIREWALL_PROGRAM = 'xdp_firewall';
export const firewallObjectPath = (): string => join(packageRoot(), 'build', 'bpf', 'firewall.o');

export const DECISION_KINDS = ['non-ip', 'malformed', 'blocklist', 'rule', 'default', 'mitigated', 'blocked'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

export interface KernelDecision {
  verdict: 'pass' | 'drop';
  kind: DecisionKind;
  /** Rule index (kind 'rule') or blocklist index (kind 'blocklist'). */
  index?: number;
  rateLimited?: boolean;
  generation: 0 | 1;
  /** The XDP return code. */
  retval: number;
}

export interface InstanceOptions {
  /** Smaller maps for tests (max_entries by map name). */
  maxEntries?: Record<string, number>;
}

export class FirewallTestInstance {
  readonly program: BpfProgram;
  readonly maps: MapSource;
  private seq = 0;

  private constructor(readonly object: BpfObject) {
    this.program = object.program(FIREWALL_PROGRAM);
    this.maps = (name) => object.map(name);
  }

  static open(options: InstanceOptions = {}): FirewallTestInstance {
    const object = BpfObject.open(firewallObjectPath());
    try {
      object.setConstants({ fw_record_decision: 1 });
      for (const [name, n] of Object.entries(options.maxEntries ?? {})) object.setMaxEntries(name, n);
      object.load();
      return new FirewallTestInstance(object);
    } catch (e) {
      object.close();
      throw e;
    }
  }

  apply(compiled: CompiledPolicy, options?: ApplyOptions): ApplyResult {
    return applyCompiled(this.maps, compiled, options);
  }

  run(frame: Buffer): KernelDecision {
    const out = this.program.testRun({ data: frame, context: xdpContext(frame.length) });
    const d = fwDecisionCodec.decode(this.object.map('fw_decision_map').get(u32(0))!, 0);
    if (d.seq !== ((this.seq + 1) >>> 0)) throw new Error(`fw_decision_map was not written by this run (seq ${d.seq}, expected ${this.seq + 1})`);
    this.seq = d.seq;
    const kind = DECISION_KINDS[d.kind] ?? 'default';
    const decision: KernelDecision = { verdict: d.verdict === 1 ? 'drop' : 'pass', kind, generation: (d.gen & 1) as 0 | 1, retval: out.retval };
    if (kind === 'rule' || kind === 'blocklist') decision.index = d.index;
    if (kind === 'rule') decision.rateLimited = d.rate_limited === 1;
    return decision;
  }

  close(): void {
    this.object.close();
  }
}
