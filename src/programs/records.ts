/**
 * What xdpkit remembers about the programs it attached: one small JSON record per interface in
 * /run/xdpkit (tmpfs: gone after a reboot, like the attachments themselves). A record counts only
 * while its program id is still the one attached, so a program someone else swapped in is never
 * mistaken for ours.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const RECORD_DIR = process.env.XDPKIT_RUN_DIR ?? '/run/xdpkit';

export interface ProgramRecord {
  /** Machine-wide name of the interface (see interface-key.ts): the record's file name. */
  key: string;
  ifname: string;
  ifindex: number;
  programId: number;
  programName: string;
  /** Built-in program name, when it is one (gives typed maps). */
  builtin?: string;
  /** Object file the program came from. */
  object: string;
  section: string;
  mode: 'native' | 'generic';
  via: 'link' | 'netlink';
  /** bpffs directory holding the link and map pins. */
  pinDir: string;
  /** Map name → pin path, for the maps pinned with --pin. */
  pinnedMaps: Record<string, string>;
  constants: Record<string, string>;
  loadedAt: string;
  /** The xdpkit feature this program is (firewall, lb), so status names it and its commands find it. */
  feature?: string;
  /** Files in RECORD_DIR holding the feature's live state: they go when the record goes. */
  stateFiles?: string[];
}

const recordPath = (key: string): string => `${RECORD_DIR}/${key}.json`;

export function writeRecord(record: ProgramRecord): void {
  mkdirSync(RECORD_DIR, { recursive: true });
  // A record replacing another (prog load --force over a firewall) ends the old feature's state.
  const keep = new Set(record.stateFiles ?? []);
  removeStateFiles(readRecord(record.key), (path) => !keep.has(path));
  // Write then rename, so a reader never sees half a record.
  const path = recordPath(record.key);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function readRecord(key: string): ProgramRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(key), 'utf8')) as ProgramRecord;
  } catch {
    return undefined;
  }
}

/** Removes the record and the state files it lists. */
export function removeRecord(key: string): void {
  removeStateFiles(readRecord(key), () => true);
  rmSync(recordPath(key), { force: true });
}

function removeStateFiles(record: ProgramRecord | undefined, which: (path: string) => boolean): void {
  for (const path of record?.stateFiles ?? []) if (which(path)) rmSync(path, { force: true });
}
