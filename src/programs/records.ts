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
}

const recordPath = (key: string): string => `${RECORD_DIR}/${key}.json`;

export function writeRecord(record: ProgramRecord): void {
  mkdirSync(RECORD_DIR, { recursive: true });
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

export function removeRecord(key: string): void {
  rmSync(recordPath(key), { force: true });
}
