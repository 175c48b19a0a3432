/**
 * Pinning in bpffs: objects that must outlive the process (links, maps) live under
 * /sys/fs/bpf/xdpkit/<iface>/. bpffs is not mounted on every machine; `ensureBpffs` mounts it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorFromErrno, NotFoundError, SystemError } from './errors.js';
import { libbpf } from './libbpf.js';

export const BPFFS_ROOT = '/sys/fs/bpf';
export const XDPKIT_PIN_ROOT = `${BPFFS_ROOT}/xdpkit`;

/** Directory where xdpkit pins the link and maps of the program on an interface (by its key). */
export function interfacePinDir(interfaceKey: string): string {
  return `${XDPKIT_PIN_ROOT}/${interfaceKey}`;
}

/** Mount points of bpffs in this mount namespace. */
export function bpffsMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'bpf')
    .map((fields) => fields[1] ?? '');
}

/** Mounts bpffs at /sys/fs/bpf unless it is there already; returns true when it mounted it. */
export function ensureBpffs(): boolean {
  if (bpffsMounts().includes(BPFFS_ROOT)) return false;
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS_ROOT], { stdio: 'pipe' });
  } catch (error) {
    throw new SystemError(`bpffs is not mounted at ${BPFFS_ROOT} and mounting it failed`, {
      cause: error,
      details: String((error as { stderr?: Buffer }).stderr ?? ''),
      hint: `mount it by hand: mount -t bpf bpf ${BPFFS_ROOT}`,
    });
  }
  return true;
}

/** Pins `fd` at `path`, creating parent directories (bpffs allows mkdir). */
export function pinObject(fd: number, path: string, what: string): void {
  ensureBpffs();
  mkdirSync(dirname(path), { recursive: true });
  const rc = libbpf.objPin(fd, path) as number;
  if (rc < 0) {
    const error = errorFromErrno(`pinning ${what} at ${path}`, rc);
    if (-rc === 17) {
      throw new SystemError(error.message, { errno: 17, hint: `something is pinned there already: rm ${path}` });
    }
    throw error;
  }
}

/** Opens a pinned object; a missing pin is a NotFoundError that says what to check. */
export function openPinnedFd(path: string, kind: 'map' | 'link' | 'program'): number {
  const fd = libbpf.objGet(path) as number;
  if (fd === -2) {
    throw new NotFoundError(`no pinned ${kind} at ${path}`, {
      errno: 2,
      hint: bpffsMounts().length === 0 ? `bpffs is not mounted: mount -t bpf bpf ${BPFFS_ROOT}` : `ls ${dirname(path)}`,
    });
  }
  if (fd < 0) throw errorFromErrno(`opening pinned ${kind} ${path}`, fd);
  return fd;
}

/** Removes a pin; a pin that is already gone is fine. */
export function unpinPath(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Removes an empty pin directory and its empty parents up to the xdpkit root. */
export function removeEmptyPinDirs(dir: string): void {
  for (let current = dir; current.startsWith(XDPKIT_PIN_ROOT); current = dirname(current)) {
    try {
      rmdirSync(current);
    } catch {
      return; // not empty or already gone: stop climbing
    }
  }
}
