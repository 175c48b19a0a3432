/**
 * Where tracefs lives. Modern systems mount it at /sys/kernel/tracing; older ones only reach it
 * through debugfs at /sys/kernel/debug/tracing; minimal hosts and containers often have neither,
 * in which case `ensureTracefs` mounts it (bpf_printk output is unreadable otherwise).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../bpf/errors.js';

export const TRACEFS_DEFAULT = '/sys/kernel/tracing';

interface MountEntry {
  path: string;
  type: string;
}

/** Parses /proc/mounts; mount points escape blanks as octal (\040). */
export function parseMounts(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, path = '', type = ''] = line.split(' ');
      return { path: path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))), type };
    });
}

/**
 * Directories that may hold tracefs, best first: tracefs mounts (the default path before any
 * other), then `tracing/` under each debugfs mount (the kernel automounts tracefs there).
 */
export function tracefsCandidates(mountsText: string): string[] {
  const mounts = parseMounts(mountsText);
  const tracefs = mounts.filter((mount) => mount.type === 'tracefs').map((mount) => mount.path);
  tracefs.sort((a, b) => Number(b === TRACEFS_DEFAULT) - Number(a === TRACEFS_DEFAULT));
  const debugfs = mounts.filter((mount) => mount.type === 'debugfs').map((mount) => join(mount.path, 'tracing'));
  return [...new Set([...tracefs, ...debugfs])];
}

/** The tracefs directory of this mount namespace, or undefined when none is mounted. */
export function findTracefs(): string | undefined {
  const text = readFileSync('/proc/self/mounts', 'utf8');
  // A tracefs mount is trusted as listed (non-root users cannot even look inside it); a
  // debugfs one only when its tracing/ automount really holds trace_pipe.
  const tracefs = new Set(parseMounts(text).filter((mount) => mount.type === 'tracefs').map((mount) => mount.path));
  return tracefsCandidates(text).find((dir) => tracefs.has(dir) || existsSync(join(dir, 'trace_pipe')));
}

/** Finds tracefs, mounting it at /sys/kernel/tracing when it is not there; says which happened. */
export function ensureTracefs(): { path: string; mounted: boolean } {
  const found = findTracefs();
  if (found !== undefined) return { path: found, mounted: false };
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS_DEFAULT], { stdio: 'pipe' });
  } catch (error) {
    throw new SystemError(`tracefs is not mounted and mounting it at ${TRACEFS_DEFAULT} failed`, {
      cause: error,
      details: String((error as { stderr?: Buffer }).stderr ?? '').trim() || undefined,
      hint: `mount it as root: mount -t tracefs tracefs ${TRACEFS_DEFAULT}`,
    });
  }
  return { path: TRACEFS_DEFAULT, mounted: true };
}
