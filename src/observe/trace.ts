/**
 * bpf_printk output, read from <tracefs>/trace_pipe and parsed into events.
 *
 * trace_pipe is opened non-blocking and polled: a blocking read would park a libuv thread in the
 * kernel until the next line arrives, and neither destroying the stream nor Ctrl-C could end it
 * (the process would hang until some program printed). Polling every 100 ms costs nothing
 * measurable and lets an AbortSignal stop the reader at once. Reading trace_pipe consumes the
 * lines: two readers each see only part of the output.
 */
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorFromErrno, NotFoundError, PermissionDeniedError } from '../bpf/errors.js';

/** One line of trace_pipe. Fields are null for a line that does not have the usual layout. */
export interface TraceEvent {
  task: string | null;
  pid: number | null;
  cpu: number | null;
  /** irqs-off / need-resched / hardirq-softirq / preempt-depth flags, e.g. "b..11". */
  flags: string | null;
  /** Seconds since boot (the trace clock). */
  timestamp: number | null;
  /** The trace event, "bpf_trace_printk" for bpf_printk. */
  event: string | null;
  message: string;
}

//            bpftool-5917    [001] b..11  1031.834989: bpf_trace_printk: xdpkit-marker len=64
// The task name may itself contain '-' and digits (kworker/0:1-123), so the pid is the last
// "-digits" before the CPU; "(  tgid)" appears when the record-tgid option is on.
const LINE = /^\s*(.+)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:(\S+)\s+)?(\d+\.\d+):\s+([^:\s]+):\s?(.*)$/;

export function parseTraceLine(line: string): TraceEvent {
  const match = LINE.exec(line);
  if (!match) return { task: null, pid: null, cpu: null, flags: null, timestamp: null, event: null, message: line };
  const [, task = '', pid = '', cpu = '', flags, timestamp = '', event = '', message = ''] = match;
  return {
    task,
    pid: Number(pid),
    cpu: Number(cpu),
    flags: flags ?? null,
    timestamp: Number(timestamp),
    event,
    message,
  };
}

export interface TraceOptions {
  /** Directory of tracefs (see tracefs.ts). */
  tracefs: string;
  /** Keep waiting for new lines; otherwise stop when what is buffered now has been read. */
  follow: boolean;
  /** Only lines matching this (tested against the whole raw line). */
  grep?: RegExp;
  /** Stops the reader; the file is closed before the iteration ends. */
  signal?: AbortSignal;
}

const POLL_MS = 100;

/** Events from trace_pipe until the signal aborts (or, without follow, the buffer is empty). */
export async function* traceEvents(options: TraceOptions): AsyncGenerator<TraceEvent> {
  for await (const line of tracePipeLines(options)) {
    if (options.grep === undefined || options.grep.test(line)) yield parseTraceLine(line);
  }
}

async function* tracePipeLines({ tracefs, follow, signal }: TraceOptions): AsyncGenerator<string> {
  const path = join(tracefs, 'trace_pipe');
  const file = await openTracePipe(path);
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.alloc(64 * 1024);
  let pending = '';
  try {
    while (signal?.aborted !== true) {
      let bytesRead: number;
      try {
        // position null: trace_pipe is a pipe-like file, read() it rather than pread() it.
        ({ bytesRead } = await file.read(buffer, 0, buffer.length, null));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
          throw errorFromErrno(`reading ${path}`, (error as NodeJS.ErrnoException).errno ?? 0, { cause: error });
        }
        if (!follow || !(await pause(signal))) break;
        continue;
      }
      if (bytesRead === 0) break;
      pending += decoder.write(buffer.subarray(0, bytesRead));
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') yield line;
    }
    pending += decoder.end();
    if (pending !== '') yield pending;
  } finally {
    await file.close();
  }
}

/** Waits one poll interval; false when the signal aborted meanwhile. */
async function pause(signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(POLL_MS, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

async function openTracePipe(path: string) {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new PermissionDeniedError(`cannot read ${path}`, { cause: error, hint: 'run as root: sudo xdpkit trace' });
    }
    if (code === 'ENOENT') {
      throw new NotFoundError(`${path} does not exist`, {
        cause: error,
        hint: 'the kernel may lack tracing support (CONFIG_FTRACE); check with: xdpkit doctor',
      });
    }
    throw errorFromErrno(`opening ${path}`, (error as NodeJS.ErrnoException).errno ?? 0, { cause: error });
  }
}

/** Whether the trace buffer records at all (tracing_on); when off, bpf_printk lines are lost. */
export async function tracingOn(tracefs: string): Promise<boolean> {
  try {
    return (await readFile(join(tracefs, 'tracing_on'), 'utf8')).trim() !== '0';
  } catch {
    return true; // Unknown: say nothing rather than warn wrongly.
  }
}
