/**
 * `xdpkit redirect set|clear`: point the DEVMAP of the redirect program on an interface at
 * another interface — what the tutorials do with `bpftool map update … value IFINDEX`, by name.
 */
import { Command } from 'commander';
import { type BpfMap, InvalidArgumentError, MapType, u32 } from '../../bpf/index.js';
import { attachedProgram, pickMapOfType, withProgramMaps } from '../../programs/attached.js';
import { setRedirectTarget } from '../../programs/configure.js';
import { type Output, outputFor } from '../output.js';
import { argParser, parseInterfaceName } from '../validate.js';

interface SlotOptions {
  slot: string;
  map?: string;
}

const DEVMAP_NAMES = ['redirect_map', 'xdp_devmap', 'tx_port'];

export function redirectCommand(): Command {
  const redirect = new Command('redirect').description('set where the redirect program on an interface sends packets');
  redirect.addCommand(
    new Command('set')
      .description('send packets arriving on <iface> to <target> (a name or an ifindex)')
      .argument('<iface>', 'interface running a program with a DEVMAP', argParser(parseInterfaceName, 'interface'))
      .argument('<target>', 'destination interface name or ifindex')
      .option('--slot <n>', 'DEVMAP key to write', '0')
      .option('--map <name>', 'the DEVMAP, when the program has several')
      .action((ifname: string, target: string, options: SlotOptions, command: Command) => runSet(ifname, target, options, outputFor(command))),
  );
  redirect.addCommand(
    new Command('clear')
      .description('empty the DEVMAP slot: the program then takes its fallback action')
      .argument('<iface>', 'interface running a program with a DEVMAP', argParser(parseInterfaceName, 'interface'))
      .option('--slot <n>', 'DEVMAP key to clear', '0')
      .option('--map <name>', 'the DEVMAP, when the program has several')
      .action((ifname: string, options: SlotOptions, command: Command) => runClear(ifname, options, outputFor(command))),
  );
  return redirect;
}

function withDevmap<T>(ifname: string, options: SlotOptions, slot: number, fn: (devmap: BpfMap) => T): T {
  const program = attachedProgram(ifname);
  return withProgramMaps(program.mapIds, (maps) => {
    const devmap = pickMapOfType(maps, MapType.devmap, options.map ? [options.map] : DEVMAP_NAMES, program.target.name, 'DEVMAP');
    // The kernel answers a slot past the end with E2BIG ("map is full"), which misleads.
    const slots = devmap.description.maxEntries;
    if (slot >= slots) {
      throw new InvalidArgumentError(`--slot ${slot} is outside ${devmap.name}, which has ${slots} slots (0 to ${slots - 1})`, {
        hint: `use a --slot from 0 to ${slots - 1}`,
      });
    }
    return fn(devmap);
  });
}

function parseSlot(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) {
    throw new InvalidArgumentError(`invalid --slot ${JSON.stringify(text)}: expected a DEVMAP key (0 or more)`, { hint: 'e.g. --slot 0' });
  }
  return Number(text);
}

function runSet(ifname: string, target: string, options: SlotOptions, out: Output): void {
  const slot = parseSlot(options.slot);
  const result = withDevmap(ifname, options, slot, (devmap) => ({
    iface: ifname,
    map: devmap.name,
    slot,
    target,
    ifindex: setRedirectTarget(devmap, slot, target),
  }));
  out.result(result, () => out.line(`${ifname}: ${result.map}[${slot}] → ${target} (ifindex ${result.ifindex})`));
}

function runClear(ifname: string, options: SlotOptions, out: Output): void {
  const slot = parseSlot(options.slot);
  const result = withDevmap(ifname, options, slot, (devmap) => {
    const slots = devmap.withCodecs(u32, devmap.valueCodec);
    // A DEVMAP delete succeeds on an empty slot too: look first to tell the user which it was.
    const occupied = slots.get(slot) !== undefined;
    if (occupied) slots.delete(slot);
    return { iface: ifname, map: devmap.name, slot, removed: occupied };
  });
  out.result(result, () => out.line(result.removed ? `${ifname}: ${result.map}[${slot}] cleared` : `${ifname}: ${result.map}[${slot}] was already empty`));
}
