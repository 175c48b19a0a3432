#!/usr/bin/env node
/**
 * The `xdpkit` program: global options, the list of command groups, and the central error
 * handler. A command group lives in src/cli/commands/<group>.ts and exports a function that
 * returns its commander Command; adding a group is one line in GROUPS.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { benchCommand } from './commands/bench.js';
import { doctorCommand } from './commands/doctor.js';
import { fwCommand } from './commands/fw.js';
import { lbCommand } from './commands/lb.js';
import { mapCommand } from './commands/map.js';
import { progCommand, statusCommand } from './commands/prog.js';
import { redirectCommand } from './commands/redirect.js';
import { statsCommand } from './commands/stats.js';
import { traceCommand } from './commands/trace.js';
import type { CommandGroup, GlobalOptions } from './context.js';
import { reportError, UsageError } from './errors.js';

const GROUPS: CommandGroup[] = [progCommand, statusCommand, statsCommand, mapCommand, redirectCommand, traceCommand, doctorCommand, benchCommand, fwCommand, lbCommand];

function packageVersion(): string {
  // Two levels up from both src/cli/main.ts (tsx) and dist/cli/main.js (built).
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('xdpkit')
    .description('load, attach, inspect and test XDP programs')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--json', 'machine-readable output on stdout (results and errors)')
    .option('--debug', 'show stack traces of errors')
    .addHelpText(
      'after',
      "\nGlobal options work before or after the command: xdpkit doctor --json.\n" +
        "Run 'xdpkit <command> --help' for a command's options.\n" +
        'Exit status: 0 success, 1 the command failed, 2 the command line was wrong.',
    );
  for (const group of GROUPS) program.addCommand(group());
  forEachCommand(program, (command) => {
    // Throw instead of exiting, and let reportError word parse errors like every other error.
    command.exitOverride((error) => {
      throw error.exitCode === 0 || error.code === 'commander.help' ? error : new UsageError(error, commandPath(command));
    });
    command.configureOutput({ outputError: () => {} });
  });
  return program;
}

/** Settings made on the program are not inherited by commands added with addCommand. */
function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const sub of command.commands) forEachCommand(sub, visit);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Runs the program; an error becomes the printed report and exit status 1 or 2. */
async function main(argv: string[]): Promise<void> {
  // `xdpkit map dump … | head`: the reader left, which is a normal end, not a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const program = buildProgram();
  let parsing = true;
  program.hook('preAction', () => {
    parsing = false;
  });
  try {
    // A command that ran but found problems (doctor) sets process.exitCode itself.
    await program.parseAsync(argv);
  } catch (error) {
    // Parsing may have stopped before the global options were read: fall back to the words
    // before any "--" (after it, "--json" would be an argument, not the option).
    const parsed = program.opts<Partial<GlobalOptions>>();
    const end = argv.indexOf('--');
    const words = argv.slice(2, end === -1 ? undefined : end);
    const json = parsed.json === true || words.includes('--json');
    const debug = parsed.debug === true || words.includes('--debug');
    process.exitCode = reportError(error, { json, debug, parsing });
  }
}

await main(process.argv);
