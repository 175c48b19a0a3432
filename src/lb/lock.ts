/**
 * One writer at a time per load balancer. `lb apply`, the CLI edits (`lb service add`, `lb backend
 * drain`, …) and the health checker each read the live state, compile the next image from it and
 * flip; two of them interleaved would flip a generation compiled from a state the other just
 * replaced. A lock file next to the state (`/run/xdpkit/<key>.lb.lock`, created with O_EXCL,
 * holding the owner's pid) serialises them; a lock whose owner died is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { BusyError } from '../bpf/errors.js';
import { RECORD_DIR } from '../programs/records.js';

export const lbLockPath = (key: string): string => `${RECORD_DIR}/${key}.lb.lock`;

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

function ownerAlive(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return true; // just released: try again
  }
  if (text === '') return true; // created, pid not written yet
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding the lock of load balancer `key`; waits up to `waitMs` for another holder. */
export function withLbLock<T>(key: string, what: string, fn: () => T, waitMs = 10_000): T {
  const path = lbLockPath(key);
  mkdirSync(RECORD_DIR, { recursive: true });
  const deadline = Date.now() + waitMs;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!ownerAlive(path)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        let owner = '?';
        try {
          owner = readFileSync(path, 'utf8');
        } catch {
          // gone meanwhile; report what we saw
        }
        throw new BusyError(`${what}: another xdpkit process (pid ${owner}) is changing this load balancer`, {
          hint: `wait for it to finish and try again; if no such process runs, remove ${path}`,
        });
      }
      sleepSync(20);
    }
  }
  try {
    writeSync(fd, String(process.pid));
    return fn();
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}
