/**
 * One writer at a time per load balancer. `lb apply`, the CLI edits (`lb service add`, `lb backend
 * drain`, …) and the health checker each read the live state, compile the next image from it and
 * flip; two of them interleaved would flip a generation compiled from a state the other just
 * replaced. A lock file next to the state (`/run/xdpkit/<key>.lb.lock`, created with O_EXCL,
 * holding the owner's pid) serialises them; a lock whose owner died is taken over.
 *
 * The same claim marks the one health checker of a load balancer (`<key>.lb.health`, held for as
 * long as it runs): two checkers would flip against each other.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { BusyError, PermissionDeniedError } from '../bpf/errors.js';
import { RECORD_DIR } from '../programs/records.js';

export const lbLockPath = (key: string): string => `${RECORD_DIR}/${key}.lb.lock`;

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a claim file, if a live process holds it ('' = being written: counts as live). */
export function claimOwner(path: string): { pid: number; alive: boolean } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // released
  }
  if (text === '') return { pid: 0, alive: true };
  const pid = Number(text);
  return { pid, alive: Number.isInteger(pid) && pid > 0 && processAlive(pid) };
}

/**
 * Creates the claim file with this process's pid; takes it over when its owner died.
 * Returns a release function, or undefined while a live process holds it.
 */
export function tryClaim(path: string): (() => void) | undefined {
  mkdirSync(RECORD_DIR, { recursive: true });
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new PermissionDeniedError(`changing the load balancer needs root: cannot create ${path}`, {
          hint: 'run as root (sudo xdpkit …)',
          cause: error,
        });
      }
      if (code !== 'EEXIST') throw error;
      const owner = claimOwner(path);
      if (owner?.alive) return undefined;
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return () => rmSync(path, { force: true });
  }
}

/** Runs `fn` holding the lock of load balancer `key`; waits up to `waitMs` for another holder. */
export function withLbLock<T>(key: string, what: string, fn: () => T, waitMs = 10_000): T {
  const path = lbLockPath(key);
  const deadline = Date.now() + waitMs;
  let release = tryClaim(path);
  while (release === undefined) {
    if (Date.now() > deadline) {
      throw new BusyError(`${what}: another xdpkit process (pid ${claimOwner(path)?.pid ?? '?'}) is changing this load balancer`, {
        hint: `wait for it to finish and try again; if no such process runs, remove ${path}`,
      });
    }
    sleepSync(20);
    release = tryClaim(path);
  }
  try {
    return fn();
  } finally {
    release();
  }
}
