/**
 * `xdpkit map list|dump|get|set|delete`: the maps of the program on an interface, found
 * through the kernel, so foreign programs work too. xdpkit's own maps are shown typed,
 * anything else as hex bytes.
 */
import { Command } from 'commander';
import { type BpfMap, InvalidArgumentError, isArrayMapType, MapType, NotFoundError, type UpdateMode } from '../../bpf/index.js';
import { attachedProgram, pickMap, withProgramMaps } from '../../programs/attached.js';
import { typedView } from '../../programs/map-codecs.js';
import { type Output, outputFor, toJson } from '../output.js';
import { argParser, parseInterfaceName } from '../validate.js';

interface DumpOptions {
  perCpu?: boolean;
  all?: boolean;
}

const ifaceArgument = ['<iface>', 'interface whose XDP program owns the map'] as const;
const mapArgument = ['<map>', 'map name or id (see xdpkit map list IFACE)'] as const;

export function mapCommand(): Command {
  const map = new Command('map').description('read and write the maps of the XDP program on an interface');
  map.addCommand(
    new Command('list')
      .description('the maps of the program on an interface')
      .argument(...ifaceArgument, argParser(parseInterfaceName, 'interface'))
      .action((ifname: string, _o: unknown, command: Command) => runList(ifname, outputFor(command))),
  );
  map.addCommand(
    new Command('dump')
      .description('every entry of a map (per-CPU maps: summed, or per CPU with --per-cpu)')
      .argument(...ifaceArgument, argParser(parseInterfaceName, 'interface'))
      .argument(...mapArgument)
      .option('--per-cpu', 'show per-CPU values instead of sums')
      .option('--all', 'also show all-zero entries of array maps')
      .action((ifname: string, name: string, options: DumpOptions, command: Command) => runDump(ifname, name, options, outputFor(command))),
  );
  map.addCommand(
    new Command('get')
      .description('one entry')
      .argument(...ifaceArgument, argParser(parseInterfaceName, 'interface'))
      .argument(...mapArgument)
      .argument('<key>', 'the key: a number, JSON for structs, or hex bytes for foreign maps')
      .action((ifname: string, name: string, key: string, _o: unknown, command: Command) => runGet(ifname, name, key, outputFor(command))),
  );
  map.addCommand(
    new Command('set')
      .description('write one entry')
      .argument(...ifaceArgument, argParser(parseInterfaceName, 'interface'))
      .argument(...mapArgument)
      .argument('<key>', 'the key')
      .argument('<value>', 'the value: a number, JSON for structs, or hex bytes for foreign maps')
      .option('--only-new', 'fail if the key exists (BPF_NOEXIST)')
      .option('--only-existing', 'fail if the key does not exist (BPF_EXIST)')
      .action((ifname: string, name: string, key: string, value: string, options: { onlyNew?: boolean; onlyExisting?: boolean }, command: Command) => {
        if (options.onlyNew && options.onlyExisting) throw new InvalidArgumentError('--only-new and --only-existing exclude each other');
        const mode: UpdateMode = options.onlyNew ? 'noexist' : options.onlyExisting ? 'exist' : 'any';
        runSet(ifname, name, key, value, mode, outputFor(command));
      }),
  );
  map.addCommand(
    new Command('delete')
      .description('remove one entry')
      .argument(...ifaceArgument, argParser(parseInterfaceName, 'interface'))
      .argument(...mapArgument)
      .argument('<key>', 'the key')
      .action((ifname: string, name: string, key: string, _o: unknown, command: Command) => runDelete(ifname, name, key, outputFor(command))),
  );
  return map;
}

/** Runs `fn` on the named map of the program attached to `ifname`. */
function withMap<T>(ifname: string, name: string, fn: (map: BpfMap<unknown, unknown>, typed: boolean) => T): T {
  const program = attachedProgram(ifname);
  return withProgramMaps(program.mapIds, (maps) => {
    const view = typedView(pickMap(maps, name, program.target.name));
    return fn(view.map, view.typed);
  });
}

/** Text from the command line → a key or value: hex for foreign maps, JSON-ish for typed ones. */
function parseText(text: string, typed: boolean): unknown {
  if (!typed) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text; // addresses and CIDRs are plain strings
  }
}

function runList(ifname: string, out: Output): void {
  const program = attachedProgram(ifname);
  const rows = withProgramMaps(program.mapIds, (maps) => maps.map((m) => ({ ...m.description, typeName: m.typeName })));
  out.result(rows, () => {
    out.note(`maps of ${program.attachment.programName} (id ${program.attachment.programId}) on ${program.target.name}`);
    out.table(
      [
        { header: 'ID', align: 'right' },
        { header: 'NAME' },
        { header: 'TYPE' },
        { header: 'KEY', align: 'right' },
        { header: 'VALUE', align: 'right' },
        { header: 'MAX ENTRIES', align: 'right' },
      ],
      rows.map((r) => [String(r.id), r.name, r.typeName, `${r.keySize} B`, `${r.valueSize} B`, r.maxEntries]),
    );
  });
}

function runDump(ifname: string, name: string, options: DumpOptions, out: Output): void {
  const { entries, hidden } = withMap(ifname, name, (map) => {
    const all = [...map.keys()].map((key) => ({
      key,
      value: !map.isPerCpu ? map.get(key) : options.perCpu ? map.getPerCpu(key) : map.getSummed(key),
    }));
    // Empty DEVMAP/CPUMAP slots iterate but have no value; zeroed array slots are noise.
    const present = all.filter((e) => e.value !== undefined);
    const shown = options.all || !isArrayMapType(map.description.type) ? present : present.filter((e) => !isZero(e.value));
    return { entries: shown, hidden: present.length - shown.length };
  });
  out.result(entries, () => {
    if (entries.length === 0) out.line('(empty)');
    for (const { key, value } of entries) out.line(`${show(key)}: ${show(value)}`);
    if (hidden > 0) out.note(`${hidden} all-zero entries hidden (--all shows them)`);
  });
}

/** Whether a decoded value is all zeros (numbers, bigints, hex text, arrays, structs). */
function isZero(value: unknown): boolean {
  if (typeof value === 'number' || typeof value === 'bigint') return value == 0;
  if (typeof value === 'string') return /^[0\s]*$/.test(value);
  if (Array.isArray(value)) return value.every(isZero);
  if (value !== null && typeof value === 'object') return Object.values(value).every(isZero);
  return false;
}

/** Maps whose keys are the slots 0..max_entries-1 (DEVMAP and CPUMAP slots can be empty). */
function isIndexedMapType(type: number): boolean {
  return isArrayMapType(type) || type === MapType.devmap || type === MapType.cpumap;
}

/** The error for a key that is not there, saying why (past an array's end, or simply absent). */
function missingKey(map: BpfMap<unknown, unknown>, keyText: string, ifname: string): NotFoundError {
  const { type, maxEntries } = map.description;
  if (isIndexedMapType(type) && /^\d+$/.test(keyText) && Number(keyText) >= maxEntries) {
    return new NotFoundError(`map ${map.name} has no key ${keyText}: its keys run from 0 to ${maxEntries - 1}`, {
      hint: `use a key from 0 to ${maxEntries - 1}`,
    });
  }
  return new NotFoundError(`map ${map.name} has no entry for key ${keyText}`, { hint: `see its entries with: xdpkit map dump ${ifname} ${map.name}` });
}

function runGet(ifname: string, name: string, keyText: string, out: Output): void {
  const value = withMap(ifname, name, (map, typed) => {
    const key = parseText(keyText, typed);
    const found = map.isPerCpu ? map.getSummed(key) : map.get(key);
    if (found === undefined) throw missingKey(map, keyText, ifname);
    return found;
  });
  out.result({ key: keyText, value }, () => out.line(show(value)));
}

function runSet(ifname: string, name: string, keyText: string, valueText: string, mode: UpdateMode, out: Output): void {
  const mapName = withMap(ifname, name, (map, typed) => {
    if (map.isPerCpu) {
      throw new InvalidArgumentError(`map ${map.name} is per-CPU: setting one value for every CPU is not supported here`);
    }
    map.set(parseText(keyText, typed), parseText(valueText, typed), mode);
    return map.name;
  });
  out.result({ map: mapName, key: keyText, value: valueText }, () => out.line(`${mapName}[${keyText}] = ${valueText}`));
}

function runDelete(ifname: string, name: string, keyText: string, out: Output): void {
  const mapName = withMap(ifname, name, (map, typed) => {
    if (map.description.type === MapType.array) {
      // Every key of an array exists for good; what "removing" means there is a zero value.
      throw new InvalidArgumentError(`map ${map.name} is an array: its entries cannot be deleted, only set to zero`, {
        hint: `xdpkit map set ${ifname} ${map.name} ${keyText} 0`,
      });
    }
    const key = parseText(keyText, typed);
    // Deleting an empty DEVMAP/CPUMAP slot succeeds in the kernel: look first.
    const absent = isIndexedMapType(map.description.type) && map.get(key) === undefined;
    if (absent || !map.delete(key)) throw missingKey(map, keyText, ifname);
    return map.name;
  });
  out.result({ map: mapName, key: keyText, deleted: true }, () => out.line(`deleted ${mapName}[${keyText}]`));
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : toJson(value);
}
