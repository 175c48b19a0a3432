/**
 * What xdpkit remembers about the programs it attached: one small JSON record per interface in
 * /run/xdpkit (tmpfs: gone after a reboot, like the attachments themselves). A record counts only
 * while its program id is still the one attached, so a program someone else swapped in is never
 * mistaken for ours.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const RECORD_DIR = process.env.XDPKIT_RUN_DIR ?? '/run/xdpkit';

export interface ProgramRecord {
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

const recordPath = (ifname: string): string => `${RECORD_DIR}/${ifname}.json`;

export function writeRecord(record: ProgramRecord): void {
  mkdirSync(RECORD_DIR, { recursive: true });
  // Write then rename, so a reader never sees half a record.
  const path = recordPath(record.ifname);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function readRecord(ifname: string): ProgramRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(ifname), 'utf8')) as ProgramRecord;
  } catch {
    return undefined;
  }
}

export function removeRecord(ifname: string): void {
  rmSync(recordPath(ifname), { force: true });
}

export function listRecords(): ProgramRecord[] {
  let files: string[];
  try {
    files = readdirSync(RECORD_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => readRecord(f.slice(0, -'.json'.length))).filter((r): r is ProgramRecord => r !== undefined);
}
