/**
 * `xdpkit trace`: stream bpf_printk output. Ctrl-C, SIGTERM and --timeout all end it the same
 * way: abort the reader, which closes trace_pipe, then exit 0. (A closed stdout, `| head`, is
 * handled for every command in main.ts.)
 */
import { Command } from 'commander';
import { ensureTracefs } from '../../observe/tracefs.js';
import { traceEvents, tracingOn, type TraceEvent } from '../../observe/trace.js';
import { type Output, outputFor } from '../output.js';
import { argParser, parsePositiveNumber, parseRegex } from '../validate.js';

interface TraceCommandOptions {
  grep?: RegExp;
  follow: boolean;
  timeout?: number;
}

export function traceCommand(): Command {
  return new Command('trace')
    .description('stream bpf_printk output of loaded programs (from tracefs trace_pipe)')
    .option('--grep <regex>', 'only lines matching this regular expression', argParser(parseRegex, '--grep'))
    .option('--follow', 'keep waiting for new lines', true)
    .option('--no-follow', 'print what is buffered now and exit')
    .option('--timeout <seconds>', 'stop after this many seconds', argParser(parsePositiveNumber, '--timeout'))
    .addHelpText(
      'after',
      '\nReading trace_pipe consumes its lines: run one reader at a time.\n' +
        'bpf_printk costs about 360 ns per call: keep it off per-packet paths outside debugging.',
    )
    .action(async (options: TraceCommandOptions, command: Command) => {
      await runTrace(options, outputFor(command));
    });
}

async function runTrace(options: TraceCommandOptions, out: Output): Promise<void> {
  const tracefs = ensureTracefs();
  if (tracefs.mounted) out.note(`mounted tracefs at ${tracefs.path}`);
  if (!(await tracingOn(tracefs.path))) {
    out.warn(`tracing is off, bpf_printk lines are dropped: echo 1 > ${tracefs.path}/tracing_on`);
  }

  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = options.timeout === undefined ? undefined : setTimeout(stop, options.timeout * 1000);

  const until = options.timeout === undefined ? 'Ctrl-C to stop' : `stops after ${options.timeout} s`;
  out.note(
    options.follow
      ? `reading ${tracefs.path}/trace_pipe (${until})`
      : `reading what is buffered in ${tracefs.path}/trace_pipe`,
  );
  try {
    const events = traceEvents({ tracefs: tracefs.path, follow: options.follow, grep: options.grep, signal: controller.signal });
    for await (const event of events) {
      if (out.json) out.jsonLine(event);
      else out.line(formatEvent(event, out));
    }
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** "1031.834989  cpu1  bpftool[5917]  message": time, CPU, who printed, what. */
function formatEvent(event: TraceEvent, out: Output): string {
  if (event.timestamp === null) return event.message;
  const { dim, cyan } = out.colors;
  const who = `${event.task}[${event.pid}]`.padEnd(20);
  const what = event.event === 'bpf_trace_printk' ? event.message : `${event.event}: ${event.message}`;
  return `${dim(event.timestamp.toFixed(6).padStart(14))}  ${dim(`cpu${event.cpu}`)}  ${cyan(who)}  ${what}`;
}
