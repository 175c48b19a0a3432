/**
 * Captures libbpf's own messages instead of letting them go to stderr, so that a failure can be
 * reported once, with the relevant lines attached, and successful calls stay quiet.
 * Messages are kept in a small ring; `captureLibbpfLog` returns what one call printed.
 */
import { koffi, libbpf, libcCalls, PrintFn } from './libbpf.js';

const LEVEL_NAMES = ['warn', 'info', 'debug'] as const;
export type LibbpfLogLevel = (typeof LEVEL_NAMES)[number];
export interface LibbpfMessage {
  level: LibbpfLogLevel;
  text: string;
}

let current: LibbpfMessage[] | undefined;
let installed = false;
const FORMAT_BUFFER_SIZE = 64 * 1024;

function onLibbpfMessage(level: number, fmt: string, args: bigint): number {
  if (!current || level > 1) return 0; // debug messages are only noise for the user
  const buf = Buffer.alloc(FORMAT_BUFFER_SIZE);
  const n = libcCalls.vsnprintf(buf, buf.length, fmt, args) as number;
  const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8');
  current.push({ level: LEVEL_NAMES[level] ?? 'debug', text: text.replace(/\n$/, '') });
  return 0;
}

function install(): void {
  if (installed) return;
  const callback = koffi.register(onLibbpfMessage, koffi.pointer(PrintFn));
  libbpf.setPrint(callback);
  installed = true;
}

/** Runs `fn` and returns its result together with everything libbpf printed meanwhile. */
export function captureLibbpfLog<T>(fn: () => T): { result: T; messages: LibbpfMessage[] } {
  install();
  const outer = current;
  const messages: LibbpfMessage[] = [];
  current = messages;
  try {
    return { result: fn(), messages };
  } finally {
    current = outer;
    outer?.push(...messages);
  }
}

/** Joins captured messages into one text for an error's details, without the "libbpf: " prefixes. */
export function libbpfMessagesText(messages: LibbpfMessage[]): string {
  return messages.map((m) => m.text.replace(/^libbpf: /, '')).join('\n');
}
