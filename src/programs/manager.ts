/**
 * The program lifecycle on an interface, as the CLI and the demo use it: open a built-in or a
 * user's object, set constants, load, configure maps, attach (link pinned so the program
 * outlives this process), remember it; and the reverse. The order matters: every step that can
 * fail happens before the attach, so a failed load leaves the interface exactly as it was.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import {
  attachXdp,
  BpfObject,
  closeLinkFd,
  detachXdp,
  interfacePinDir,
  pinObject,
  queryXdp,
  removeEmptyPinDirs,
  unpinPath,
  XDPKIT_PIN_ROOT,
  type AttachResult,
  type ConstantValue,
  type XdpAttachment,
  type XdpModeRequest,
  type XdpTarget,
} from '../bpf/index.js';
import { NETNS_RUN_DIR } from '../net/index.js';
import { builtinProgram, isBuiltinName } from './catalogue.js';
import { interfaceKey } from './interface-key.js';
import { readRecord, RECORD_DIR, removeRecord, writeRecord, type ProgramRecord } from './records.js';
import { resolveTarget } from './target.js';

export interface LoadRequest {
  ifname: string;
  /** A built-in program name (pass, drop_udp, …) or the path of an object file. */
  program: string;
  /** Program name or ELF section, when the object holds several. */
  section?: string;
  mode: XdpModeRequest;
  force?: boolean;
  /** Also pin the program's maps under the interface's pin directory. */
  pinMaps?: boolean;
  constants?: Record<string, ConstantValue>;
  logLevel?: 0 | 1 | 2;
  /** Map writes to make after load and before attach (built-in options such as ports). */
  configure?: (object: BpfObject) => void;
  /** The xdpkit feature the program is and its state files (kept in the record, removed with it). */
  feature?: { name: string; stateFiles: string[] };
}

export interface LoadOutcome {
  record: ProgramRecord;
  attach: AttachResult;
  verifierLog: string;
}

/** Where an object comes from: a built-in's file and program, or the user's file. */
function locate(program: string, section?: string): { object: string; program?: string; builtin?: string } {
  if (isBuiltinName(program)) {
    const builtin = builtinProgram(program);
    return { object: builtin.object, program: section ?? builtin.program, builtin: builtin.name };
  }
  return { object: resolvePath(program), ...(section ? { program: section } : {}) };
}

export function loadOnInterface(request: LoadRequest): LoadOutcome {
  const target = resolveTarget(request.ifname);
  const source = locate(request.program, request.section);
  const object = BpfObject.open(source.object);
  try {
    const program = source.program ? object.program(source.program) : object.soleProgram();
    object.setConstants(request.constants ?? {});
    object.load(request.logLevel ? { logLevel: request.logLevel } : {});
    request.configure?.(object);

    const attach = attachXdp(target, program.fd, { mode: request.mode, force: request.force ?? false });
    const key = interfaceKey(target.name);
    const pinDir = interfacePinDir(key);
    try {
      if (attach.linkFd !== undefined) pinLink(attach.linkFd, `${pinDir}/link`);
      const pinnedMaps = request.pinMaps ? pinMaps(object, `${pinDir}/maps`) : {};
      const record: ProgramRecord = {
        key,
        ifname: target.name,
        ifindex: target.ifindex,
        programId: attach.programId,
        programName: program.name,
        ...(source.builtin ? { builtin: source.builtin } : {}),
        object: source.object,
        section: program.section,
        mode: attach.mode,
        via: attach.via,
        pinDir,
        pinnedMaps,
        constants: Object.fromEntries(Object.entries(request.constants ?? {}).map(([k, v]) => [k, String(v)])),
        loadedAt: new Date().toISOString(),
        ...(request.feature && { feature: request.feature.name, stateFiles: request.feature.stateFiles }),
      };
      writeRecord(record);
      return { record, attach, verifierLog: program.verifierLog };
    } catch (error) {
      // Pinning failed after the attach: take the new program off again rather than leave a
      // half-managed attachment (a replaced program cannot be brought back, so say so).
      if (!attach.replaced) detachXdp(target);
      throw error;
    }
  } finally {
    // The attachment (and pins) hold the program and maps; the object's own fds can go.
    object.close();
  }
}

/** A pinned link survives this process; an existing pin (an atomic replace) is already right. */
function pinLink(linkFd: number, path: string): void {
  try {
    unpinPath(path);
    pinObject(linkFd, path, 'XDP link');
  } finally {
    closeLinkFd(linkFd);
  }
}

function pinMaps(object: BpfObject, dir: string): Record<string, string> {
  const pinned: Record<string, string> = {};
  for (const name of object.userMapNames()) {
    const path = `${dir}/${name}`;
    unpinPath(path);
    object.map(name).pin(path);
    pinned[name] = path;
  }
  return pinned;
}

export interface UnloadOutcome {
  ifname: string;
  removed: XdpAttachment[];
  managed: boolean;
}

/** Detaches whatever XDP program the interface has and removes xdpkit's pins and record. */
export function unloadFromInterface(ifname: string): UnloadOutcome {
  const target = resolveTarget(ifname);
  const record = managedRecord(target);
  const removed = detachXdp(target);
  cleanUpPins(interfaceKey(target.name), record);
  return { ifname: target.name, removed, managed: record !== undefined };
}

function cleanUpPins(key: string, record: ProgramRecord | undefined): void {
  const pinDir = record?.pinDir ?? interfacePinDir(key);
  unpinPath(`${pinDir}/link`);
  for (const path of Object.values(record?.pinnedMaps ?? {})) unpinPath(path);
  removeEmptyPinDirs(`${pinDir}/maps`);
  removeEmptyPinDirs(pinDir);
  removeRecord(key);
}

/** The record for the program on `target`, if xdpkit attached the program running there now. */
export function managedRecord(target: XdpTarget): ProgramRecord | undefined {
  const record = readRecord(interfaceKey(target.name));
  if (!record || record.ifindex !== target.ifindex) return undefined;
  const attached = queryXdp(target).map((a) => a.programId);
  return attached.includes(record.programId) ? record : undefined;
}

export interface InterfaceStatus {
  ifname: string;
  ifindex: number;
  attachments: (XdpAttachment & { managed: boolean; builtin?: string; object?: string; feature?: string })[];
}

/** XDP status of one interface. */
export function interfaceStatus(ifname: string): InterfaceStatus {
  const target = resolveTarget(ifname);
  return statusOf(target);
}

export function statusOf(target: XdpTarget): InterfaceStatus {
  const record = readRecord(interfaceKey(target.name));
  const attachments = queryXdp(target).map((a) => {
    const ours = record !== undefined && record.ifindex === target.ifindex && record.programId === a.programId;
    return {
      ...a,
      managed: ours,
      ...(ours && record.builtin ? { builtin: record.builtin } : {}),
      ...(ours ? { object: record.object } : {}),
      ...(ours && record.feature ? { feature: record.feature } : {}),
    };
  });
  return { ifname: target.name, ifindex: target.ifindex, attachments };
}

/**
 * Removes the pins and records of every interface of the network namespace `netns` (by its
 * `ip netns` name), for when the namespace is gone or going: its interfaces can no longer be
 * reached to unload, but their pins would otherwise outlive it in the shared bpffs.
 */
export function forgetNamespace(netns: string): void {
  for (const dir of [XDPKIT_PIN_ROOT, RECORD_DIR]) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.startsWith(`${netns}:`))) rmSync(`${dir}/${name}`, { recursive: true, force: true });
  }
}

/**
 * Forgets the pins and records of namespaces that no longer exist (deleted with a program still
 * attached: their links are already gone with the interfaces). Returns the namespaces forgotten.
 */
export function pruneGoneNamespaces(): string[] {
  const keys = [XDPKIT_PIN_ROOT, RECORD_DIR].flatMap((dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  });
  const namespaces = new Set(keys.filter((key) => key.includes(':')).map((key) => key.slice(0, key.indexOf(':'))));
  const gone = [...namespaces].filter((ns) => !existsSync(`${NETNS_RUN_DIR}/${ns}`));
  gone.forEach(forgetNamespace);
  return gone;
}
