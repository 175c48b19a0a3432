/**
 * The load balancer's config as a whole:
 *   lb apply -f FILE --iface IF [--dry-run] …   replace the live config with the file's
 *   lb diff -f FILE [--iface IF]                what that apply would change
 *   lb export [IF]                              the live config as a file (as ipvsadm-save)
 *
 * `lb apply` is declarative (as kubectl apply and ipvsadm-restore): the live config becomes the
 * file's, so the CLI edits made since the last apply (lb service / lb backend) are undone where
 * the file lacks them. It shows what it changed, services and backends, and warns when it undid
 * such edits (the live state keeps them until an apply replaces them); `lb diff` and
 * `--dry-run` show the same before anything is written, `lb export > FILE` saves the edits.
 */
import { Command } from 'commander';
import { NotFoundError } from '../../bpf/errors.js';
import { applyLoadBalancer, lbInterface, lbStateOf, planApply, sourcesFrom, type LbApplyRequest, type LbState } from '../../lb/deploy.js';
import { describeLbDiff, diffLoadBalancers, undoesLiveConfig, type LbDiff } from '../../lb/diff.js';
import { loadBalancerDocument, loadBalancerYaml } from '../../lb/export.js';
import type { LoadBalancer } from '../../lb/model.js';
import { loadLoadBalancerFile, parseAddress } from '../../lb/schema.js';
import { resolveTarget } from '../../programs/target.js';
import { formatCounted, outputFor, type Output } from '../output.js';
import { argParser, parseInterfaceName, parseMode, parsePositiveInt, repeatable } from '../validate.js';
import { lbArg, report } from './lb-edit.js';

interface ApplyOptions {
  file: string;
  iface: string;
  source?: string[];
  egress?: string;
  mode: ReturnType<typeof parseMode>;
  conntrack?: number;
  ringSlots?: number;
  force?: boolean;
  dryRun?: boolean;
}

/** What a file changes against the live config, and the CLI edits since the last apply that it undoes. */
interface ConfigChange {
  diff: LbDiff;
  /** Live edits this change undoes (empty when it undoes nothing, or there were none). */
  replacedEdits: string[];
}

function changeOf(live: { model: LoadBalancer; edits?: string[] } | undefined, model: LoadBalancer): ConfigChange {
  const diff = diffLoadBalancers(live?.model, model);
  return { diff, replacedEdits: live && undoesLiveConfig(diff) ? (live.edits ?? []) : [] };
}

/** The diff lines, indented, and the warning about the edits it undoes (`verb`: undid, would undo). */
function printChange(out: Output, change: ConfigChange, file: string, verb: string): void {
  if (change.diff.live) for (const line of describeLbDiff(change.diff)) out.line(`  ${line}`);
  const edits = change.replacedEdits;
  if (edits.length > 0) {
    const latest = edits.slice(-3).join('; ');
    out.warn(
      `${file} ${verb} CLI edits (the - and ~ lines above): ${edits.length === 1 ? '1 edit was' : `${edits.length} edits were`} made with lb service / lb backend since the last lb apply, ` +
        `${edits.length > 3 ? 'the last 3: ' : ''}${latest}. To keep edits, put them in the file (xdpkit lb export prints the live config as one) and apply that.`,
    );
  }
}

function requestOf(o: ApplyOptions, model: LoadBalancer): LbApplyRequest {
  return {
    ifname: o.iface,
    model,
    mode: o.mode,
    source: sourcesFrom(o.source ?? []),
    ...(o.egress !== undefined && { egress: o.egress }),
    ...(o.conntrack !== undefined && { conntrack: o.conntrack }),
    ...(o.ringSlots !== undefined && { ringSlots: o.ringSlots }),
    ...(o.force && { force: true }),
  };
}

function runApply(o: ApplyOptions, out: Output): void {
  const model = loadLoadBalancerFile(o.file);
  if (o.dryRun) {
    // Every check of a real apply (room, MACs, sources, egress, limits), nothing written.
    const plan = planApply(requestOf(o, model));
    const change = changeOf(plan.previous, model);
    out.result({ dryRun: true, iface: plan.target.name, file: o.file, attach: !plan.previous, warnings: plan.image.warnings, learnedMacs: plan.learned, ...change }, () => {
      out.line(`dry run: ${o.file} on ${plan.target.name}, nothing written; it would ${plan.previous ? 'change' : `load the load balancer with ${formatCounted(model.services.length, 'service')}`}${plan.previous ? ':' : ''}`);
      printChange(out, change, o.file, 'would undo');
      for (const w of plan.image.warnings) out.warn(w);
    });
    return;
  }
  const r = applyLoadBalancer(requestOf(o, model));
  const change = changeOf(r.previous, model);
  report(out, r.attached ? `load balancer attached (${r.mode})` : 'load balancer updated', r, { attached: r.attached, ...(r.mode && { mode: r.mode }), ...change }, () =>
    printChange(out, change, o.file, 'undid'),
  );
}

function runDiff(o: { file: string; iface?: string }, out: Output): void {
  const iface = lbInterface(o.iface);
  const model = loadLoadBalancerFile(o.file);
  const state = readLiveState(iface);
  const change = changeOf(state, model);
  out.result({ iface, file: o.file, ...(state && { generation: state.image.generation }), ...change }, () => {
    if (!state) {
      out.line(`${iface} has no load balancer: lb apply would load one with ${formatCounted(model.services.length, 'service')}`);
      return;
    }
    out.line(`${o.file} against the live config on ${iface} (generation ${state.image.generation}):`);
    printChange(out, change, o.file, 'would undo');
  });
}

/** The live state on an interface, or undefined when it has no load balancer (an unknown interface is an error). */
function readLiveState(iface: string): LbState | undefined {
  resolveTarget(iface);
  try {
    return lbStateOf(iface);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

export function lbApplyCommand(): Command {
  return new Command('apply')
    .description('load or update the load balancer on an interface from a LoadBalancer document (replaces the live config)')
    .requiredOption('-f, --file <path>', 'LoadBalancer YAML/JSON')
    .requiredOption('--iface <name>', 'interface the VIP traffic arrives on', argParser(parseInterfaceName, '--iface'))
    .option('--source <address>', "the load balancer's own address, outer source of ipip packets (one per family)", repeatable(lbArg((v) => parseAddress(v).address, '--source', 'e.g. --source 198.18.0.2 --source 2001:db8::2')))
    .option('--egress <iface>', 'send balanced frames out of this interface (two-armed; kept by later applies and edits); default: back out of --iface (XDP_TX)', argParser(parseInterfaceName, '--egress'))
    .option('--mode <mode>', 'XDP mode: native, generic or auto', argParser(parseMode, '--mode'), 'auto')
    .option('--conntrack <n>', 'conntrack entries (first apply)', argParser((v) => parsePositiveInt(v, '--conntrack'), '--conntrack'))
    .option('--ring-slots <n>', 'Maglev slots per generation to reserve (first apply; default twice what the file needs, ≥ 65536): room for services added later', argParser((v) => parsePositiveInt(v, '--ring-slots'), '--ring-slots'))
    .option('--force', 'replace another XDP program on the interface')
    .option('--dry-run', 'check everything and show what would change (as lb diff), writing nothing')
    .addHelpText(
      'after',
      '\nThe live config becomes the file\'s: services and backends added with lb service / lb backend\n' +
        'since the last apply are removed, and drains and weights set there undone, where the file\n' +
        'lacks them. apply prints what it changed (+ added, - removed, ~ changed) and warns when it\n' +
        'undid such edits. Before applying: lb diff -f FILE; to keep edits: lb export > FILE.\n' +
        'Established flows stay on their backends while those stay in the config.',
    )
    .action((options: ApplyOptions, command: Command) => runApply(options, outputFor(command)));
}

export function lbDiffCommand(): Command {
  return new Command('diff')
    .description('what lb apply -f FILE would change against the live config: services and backends added, removed, changed')
    .requiredOption('-f, --file <path>', 'LoadBalancer YAML/JSON')
    .option('--iface <name>', 'interface of the load balancer (default: the only one in this namespace)', argParser(parseInterfaceName, '--iface'))
    .addHelpText(
      'after',
      '\nLines: + added, - removed, ~ changed (old → new); a service\'s backends are indented below it.\n' +
        'Services are matched by ADDRESS:PORT/PROTO, backends by address. A warning lists the live\n' +
        'edits (lb service / lb backend since the last apply) that applying the file would undo.',
    )
    .action((options: { file: string; iface?: string }, command: Command) => runDiff(options, outputFor(command)));
}

export function lbExportCommand(): Command {
  return new Command('export')
    .description('print the live config as a LoadBalancer document (with the CLI edits), for lb apply -f')
    .argument('[iface]', 'interface (default: the only load balancer in this namespace)', argParser(parseInterfaceName, 'interface'))
    .action((ifname: string | undefined, _o: unknown, command: Command) => {
      const out = outputFor(command);
      const state = lbStateOf(lbInterface(ifname));
      const comment = ` exported from ${state.ifname} (generation ${state.image.generation}) by xdpkit lb export at ${new Date().toISOString()}`;
      out.result(loadBalancerDocument(state.model), () => process.stdout.write(loadBalancerYaml(state.model, comment)));
    });
}
