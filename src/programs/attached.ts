/**
 * The program running on an interface and its maps, found through the kernel (program id →
 * map ids), so the same commands work for programs xdpkit did not load.
 */
import { BpfMap, InvalidArgumentError, NotFoundError, programInfoById, queryXdp, type XdpAttachment, type XdpTarget } from '../bpf/index.js';
import { resolveTarget } from './target.js';

export interface AttachedProgram {
  target: XdpTarget;
  attachment: XdpAttachment;
  mapIds: number[];
}

/** The XDP program on `ifname`; a NotFoundError with the next step when there is none. */
export function attachedProgram(ifname: string): AttachedProgram {
  const target = resolveTarget(ifname);
  // Native and generic at once is rare; queryXdp lists native first, and it sees traffic first.
  const [attachment] = queryXdp(target);
  if (!attachment) {
    throw new NotFoundError(`${target.name} has no XDP program`, { hint: `load one: xdpkit prog load ${target.name} pass` });
  }
  return { target, attachment, mapIds: programInfoById(attachment.programId).mapIds };
}

/** Opens every map the program uses (the caller closes them). */
export function openProgramMaps(mapIds: number[]): BpfMap[] {
  return mapIds.map((id) => BpfMap.fromId(id));
}

/** Runs `fn` with the program's maps open, closing them afterwards. */
export function withProgramMaps<T>(mapIds: number[], fn: (maps: BpfMap[]) => T): T {
  const maps = openProgramMaps(mapIds);
  try {
    return fn(maps);
  } finally {
    maps.forEach((m) => m.close());
  }
}

/** A map of the program by name or numeric id, with the list of maps when it is not there. */
export function pickMap(maps: BpfMap[], nameOrId: string, where: string): BpfMap {
  const byId = /^\d+$/.test(nameOrId) ? maps.find((m) => m.description.id === Number(nameOrId)) : undefined;
  const found = byId ?? maps.find((m) => m.name === nameOrId);
  if (!found) {
    throw new NotFoundError(`the program on ${where} has no map "${nameOrId}"`, {
      details: `its maps: ${maps.map((m) => `${m.name} (id ${m.description.id}, ${m.typeName})`).join(', ') || '(none)'}`,
      hint: `list them with: xdpkit map list ${where}`,
    });
  }
  return found;
}

/** The only map of a given type among the program's maps, preferring `preferredNames`. */
export function pickMapOfType(maps: BpfMap[], type: number, preferredNames: string[], where: string, what: string): BpfMap {
  const candidates = maps.filter((m) => m.description.type === type);
  const preferred = candidates.find((m) => preferredNames.includes(m.name));
  if (preferred) return preferred;
  if (candidates.length === 1 && candidates[0]) return candidates[0];
  if (candidates.length === 0) {
    throw new NotFoundError(`the program on ${where} has no ${what}`, {
      hint: `load a program that redirects, e.g. xdpkit prog load ${where} redirect --target IFACE`,
    });
  }
  throw new InvalidArgumentError(`the program on ${where} has several ${what}s: ${candidates.map((m) => m.name).join(', ')}`, {
    hint: 'name the map with --map',
  });
}
