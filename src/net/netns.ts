/**
 * Running code inside another network namespace without a child process: setns(CLONE_NEWNET)
 * on the calling thread, then back.
 *
 * Caveat, by design of Linux: setns() moves only the calling thread. In Node that is the main
 * JS thread, which is where koffi calls (bpf(), netlink, ioctl) and the socket() of synchronous
 * work happen, so those see the namespace entered. libuv's pool threads (async fs, dns.lookup,
 * zlib, crypto) and worker threads stay where they were. Child processes forked from the main
 * thread (child_process.spawn) inherit the namespace entered. Sockets keep the namespace they
 * were created in, whatever thread uses them later.
 *
 * While an async body runs, the main thread stays in the namespace, so every other callback the
 * event loop runs meanwhile (timers, other tests) runs there too. Keep async bodies short and
 * their work local to the namespace. Async withNetns() calls take turns (a queue), so two bodies
 * never interleave in each other's namespace; nested calls run within their parent's turn.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { errorFromErrno, NotFoundError, SystemError } from '../bpf/errors.js';
import { calls, CLONE_NEWNET, errno } from './libc.js';

/** Where `ip netns add NAME` pins its namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** A namespace name (→ /run/netns/NAME) or an absolute path (/proc/PID/ns/net, a bind mount). */
export function netnsPath(nameOrPath: string): string {
  if (nameOrPath.startsWith('/')) return nameOrPath;
  if (nameOrPath.length === 0 || nameOrPath.includes('/') || nameOrPath === '.' || nameOrPath === '..') {
    throw new NotFoundError(`"${nameOrPath}" is not a network namespace name`, { hint: 'list them with: ip netns list' });
  }
  return `${NETNS_RUN_DIR}/${nameOrPath}`;
}

/** The calling thread's own namespace file: /proc/self/ns/net would be the process leader's. */
function ownNetnsFile(): string {
  return `/proc/self/task/${calls.gettid() as number}/ns/net`;
}

/** Identity of the calling thread's network namespace, e.g. "net:[4026531840]". */
export function currentNetns(): string {
  return readlinkSync(ownNetnsFile());
}

/**
 * Moves the calling thread into a namespace; the returned function moves it back (idempotent).
 * Prefer withNetns/withNetnsSync, which cannot forget to.
 */
export function enterNetns(nameOrPath: string): () => void {
  const path = netnsPath(nameOrPath);
  // fs.openSync runs on the calling (main) thread, so the fd is of the thread we will move.
  const original = openSync(ownNetnsFile(), 'r');
  let target: number;
  try {
    target = openSync(path, 'r');
  } catch (cause) {
    closeSync(original);
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new NotFoundError(`network namespace ${nameOrPath} does not exist`, { hint: 'list them with: ip netns list', cause });
    }
    throw new SystemError(`opening network namespace ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    if ((calls.setns(target, CLONE_NEWNET) as number) < 0) {
      const code = errno();
      closeSync(original);
      throw errorFromErrno(`entering network namespace ${nameOrPath}`, code);
    }
  } finally {
    closeSync(target);
  }
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    try {
      if ((calls.setns(original, CLONE_NEWNET) as number) < 0) {
        // Leaving the thread in the wrong namespace would silently misdirect all later work.
        throw errorFromErrno(`returning from network namespace ${nameOrPath}`, errno());
      }
    } finally {
      closeSync(original);
    }
  };
}

/** Runs a synchronous fn inside the namespace and always returns. */
export function withNetnsSync<T>(nameOrPath: string, fn: () => T): T {
  const restore = enterNetns(nameOrPath);
  let result: T;
  try {
    result = fn();
  } finally {
    restore();
  }
  if (isThenable(result)) {
    throw new SystemError('withNetnsSync got a promise: its async part ran outside the namespace', { hint: 'use withNetns() for async functions' });
  }
  return result;
}

interface Session {
  /** Turn-taking queue for async calls nested in this one. */
  queue: Promise<void>;
}

const sessions = new AsyncLocalStorage<Session>();
let topQueue: Promise<void> = Promise.resolve();

/**
 * Runs fn (sync or async) inside the namespace and returns to the original namespace when it
 * settles, also on errors. Calls take turns: a call waits for earlier ones at its level.
 */
export async function withNetns<T>(nameOrPath: string, fn: () => T | Promise<T>): Promise<T> {
  const parent = sessions.getStore();
  const previous = parent ? parent.queue : topQueue;
  let release!: () => void;
  const turn = new Promise<void>((resolve) => (release = resolve));
  const next = previous.then(() => turn);
  if (parent) parent.queue = next;
  else topQueue = next;

  await previous;
  try {
    const restore = enterNetns(nameOrPath);
    try {
      return await sessions.run({ queue: Promise.resolve() }, fn);
    } finally {
      restore();
    }
  } finally {
    release();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
