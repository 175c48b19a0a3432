/**
 * `xdpkit prog load|unload|list|status` and the top-level `status`: the XDP program lifecycle on
 * interfaces. Loads are all-or-nothing: a program that fails to open, verify or configure never
 * touches the interface.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { InvalidArgumentError, NotFoundError, type ConstantValue } from '../../bpf/index.js';
import { builtinNames } from '../../programs/catalogue.js';
import { builtinSetup, type BuiltinOptions } from '../../programs/configure.js';
import { interfaceStatus, loadOnInterface, pruneGoneNamespaces, statusOf, unloadFromInterface, type InterfaceStatus } from '../../programs/manager.js';
import { allTargets } from '../../programs/target.js';
import { checkCommandLine } from '../errors.js';
import { type Output, outputFor } from '../output.js';
import {
  argParser,
  parseInterfaceName,
  parseMode,
  parsePort,
  parsePositiveInt,
  parseSet,
  repeatable,
  type Setting,
} from '../validate.js';
import type { XdpModeRequest } from '../../bpf/xdp.js';

interface LoadOptions {
  section?: string;
  mode: XdpModeRequest;
  force?: boolean;
  pin?: boolean;
  set?: Setting[];
  logLevel?: number;
  port?: number[];
  target?: string;
  fallback?: string;
  cpus?: string;
  qsize?: number;
}

export function progCommand(): Command {
  const prog = new Command('prog').description('load, replace, unload and list XDP programs on interfaces');
  prog.addCommand(loadCommand());
  prog.addCommand(
    new Command('unload')
      .description('detach the XDP program from an interface and remove its pins')
      .argument('<iface>', 'interface', argParser(parseInterfaceName, 'interface'))
      .action((ifname: string, _options: unknown, command: Command) => runUnload(ifname, outputFor(command))),
  );
  prog.addCommand(
    new Command('list')
      .description('every interface with an XDP program')
      .action((_options: unknown, command: Command) => runStatus(undefined, outputFor(command))),
  );
  prog.addCommand(statusCommand());
  prog.addCommand(
    new Command('prune')
      .description('forget the pins and records of network namespaces that no longer exist')
      .action((_options: unknown, command: Command) => runPrune(outputFor(command))),
  );
  return prog;
}

/** `xdpkit status [iface]`: the same as `prog status`, at the top level where users look first. */
export function statusCommand(): Command {
  return new Command('status')
    .description('XDP programs on every interface (or one): program, id, mode, whether xdpkit manages it')
    .argument('[iface]', 'only this interface', argParser(parseInterfaceName, 'interface'))
    .action((ifname: string | undefined, _options: unknown, command: Command) => runStatus(ifname, outputFor(command)));
}

function loadCommand(): Command {
  return new Command('load')
    .description('load an XDP program and attach it to an interface')
    .argument('<iface>', 'interface to attach to', argParser(parseInterfaceName, 'interface'))
    .argument('<program>', `a built-in (${builtinNames().join(', ')}) or the path of a BPF object file`)
    .option('--section <name>', 'program name or ELF section, for objects with several programs')
    .option('--mode <mode>', 'native (driver), generic (any interface, slower) or auto (native where supported)', argParser(parseMode, '--mode'), 'native')
    .option('--force', 'replace a program that is already attached (atomically)')
    .option('--pin', 'also pin the maps under /sys/fs/bpf/xdpkit/<iface>/maps for other tools')
    .option('--set <key=value>', 'set a const volatile global before load (repeatable)', repeatable(argParser(parseSet, '--set')))
    .option('--log-level <n>', 'verifier log level 1 or 2 (printed after a successful load)', argParser(parsePositiveInt, '--log-level'))
    .option('--port <port>', 'drop_udp: drop only UDP to this destination port (repeatable)', repeatable(argParser(parsePort, '--port')))
    .option('--target <iface>', 'redirect: send packets to this interface (name or ifindex)')
    .option('--fallback <action>', 'redirect: verdict when the target is missing (pass, drop)')
    .option('--cpus <list>', 'cpumap: CPUs to steer to, e.g. 0,1')
    .option('--qsize <n>', 'cpumap: queue size per CPU', argParser(parsePositiveInt, '--qsize'))
    .addHelpText(
      'after',
      '\nThe program stays attached after xdpkit exits: its BPF link is pinned at\n' +
        '/sys/fs/bpf/xdpkit/<iface>/link (in a namespace made by ip netns add:\n' +
        '/sys/fs/bpf/xdpkit/<netns>:<iface>/link; bpffs is mounted if needed). Remove it with\n' +
        "'xdpkit prog unload <iface>'.\n\n" +
        'Examples:\n' +
        '  xdpkit prog load eth0 drop_udp --port 53\n' +
        '  xdpkit prog load eth0 redirect --target eth1\n' +
        '  xdpkit prog load eth0 ./xdp_prog.o --section xdp_drop_udp --mode generic\n' +
        '  xdpkit prog load eth0 pass --force          # atomic replace',
    )
    .action((ifname: string, program: string, options: LoadOptions, command: Command) => runLoad(ifname, program, options, outputFor(command)));
}

/**
 * A bare word that is neither a built-in nor a file is most likely a mistyped built-in:
 * say so, with the list, rather than "object file /cwd/drop_upd does not exist".
 */
function checkProgramName(program: string): void {
  if (builtinNames().includes(program) || program.includes('/') || program.includes('.') || existsSync(program)) return;
  const names = builtinNames();
  const near = names.filter((name) => editDistance(name, program) <= Math.max(1, Math.floor(name.length / 3)));
  throw new NotFoundError(`there is no built-in program or object file named "${program}"`, {
    details: `built-in programs: ${names.join(', ')}`,
    hint: near.length > 0 ? `did you mean ${near.join(' or ')}?` : 'give a built-in name, or the path of a BPF object file (e.g. ./prog.o)',
  });
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function runLoad(ifname: string, program: string, options: LoadOptions, out: Output): void {
  checkProgramName(program);
  const builtin = builtinNames().includes(program) ? program : undefined;
  // Options that parsed but do not fit the program are command-line errors (exit 2).
  const setup = checkCommandLine(() => {
    const builtinOptions: BuiltinOptions = {
      ...(options.port ? { ports: options.port } : {}),
      ...(options.target !== undefined ? { target: options.target } : {}),
      ...(options.fallback !== undefined ? { fallback: options.fallback } : {}),
      ...(options.cpus !== undefined ? { cpus: parseCpuList(options.cpus) } : {}),
      ...(options.qsize !== undefined ? { qsize: options.qsize } : {}),
    };
    return builtinSetup(builtin, builtinOptions);
  });
  const constants: Record<string, ConstantValue> = { ...setup.constants };
  for (const { key, value } of options.set ?? []) {
    constants[key] = typeof value === 'string' ? Buffer.from(value) : value;
  }
  const outcome = loadOnInterface({
    ifname,
    program,
    ...(options.section ? { section: options.section } : {}),
    mode: options.mode,
    force: options.force ?? false,
    pinMaps: options.pin ?? false,
    constants,
    ...(options.logLevel ? { logLevel: Math.min(options.logLevel, 2) as 1 | 2 } : {}),
    configure: setup.configure,
  });
  const { record, attach } = outcome;
  out.result(
    { ...record, replaced: attach.replaced ?? null, fallbackReason: attach.fallbackReason ?? null },
    () => {
      if (outcome.verifierLog) out.line(outcome.verifierLog.trimEnd());
      if (attach.fallbackReason) out.warn(`${attach.fallbackReason}: attached in generic mode (--mode auto)`);
      if (attach.replaced) {
        out.note(`replaced ${attach.replaced.programName} (id ${attach.replaced.programId}) atomically`);
      }
      out.line(
        `${out.colors.green('loaded')} ${record.builtin ?? record.object} (${record.programName}, id ${record.programId}) on ${record.ifname} in ${out.colors.bold(record.mode)} mode via ${record.via}`,
      );
      if (record.via === 'link' && !attach.replaced) out.note(`link pinned at ${record.pinDir}/link`);
      for (const [name, path] of Object.entries(record.pinnedMaps)) out.note(`map ${name} pinned at ${path}`);
    },
  );
}

function parseCpuList(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part))) {
    throw new InvalidArgumentError(`invalid --cpus ${JSON.stringify(text)}: expected CPU numbers separated by commas`, {
      hint: 'e.g. --cpus 0,1',
    });
  }
  return [...new Set(parts.map(Number))];
}

function runUnload(ifname: string, out: Output): void {
  const outcome = unloadFromInterface(ifname);
  out.result(outcome, () => {
    if (outcome.removed.length === 0) {
      out.line(`${outcome.ifname} had no XDP program; nothing to do`);
      return;
    }
    for (const a of outcome.removed) {
      out.line(`${out.colors.green('unloaded')} ${a.programName} (id ${a.programId}, ${a.mode}) from ${outcome.ifname}`);
    }
  });
}

function runPrune(out: Output): void {
  const gone = pruneGoneNamespaces();
  out.result({ forgotten: gone }, () =>
    out.line(gone.length === 0 ? 'nothing to prune' : `forgot the pins and records of ${gone.length} deleted namespace(s): ${gone.join(', ')}`),
  );
}

function runStatus(ifname: string | undefined, out: Output): void {
  const statuses: InterfaceStatus[] = ifname ? [interfaceStatus(ifname)] : allTargets().map(statusOf).filter((s) => s.attachments.length > 0);
  out.result(statuses, () => {
    const rows = statuses.flatMap((s) =>
      s.attachments.length === 0
        ? [[s.ifname, String(s.ifindex), '-', '-', '(no XDP program)', '-', '-', '-']]
        : s.attachments.map((a) => [
            s.ifname,
            String(s.ifindex),
            a.mode,
            String(a.programId),
            a.programName,
            a.programTag,
            a.linkId === undefined ? 'netlink' : String(a.linkId),
            a.managed ? `yes (${a.feature ?? a.builtin ?? a.object})` : 'no',
          ]),
    );
    if (rows.length === 0) {
      out.line('no interface has an XDP program');
      return;
    }
    out.table(
      [
        { header: 'IFACE' },
        { header: 'IFINDEX', align: 'right' },
        { header: 'MODE' },
        { header: 'ID', align: 'right' },
        { header: 'PROGRAM' },
        { header: 'TAG' },
        { header: 'LINK' },
        { header: 'MANAGED' },
      ],
      rows,
    );
  });
}
