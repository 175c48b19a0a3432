/**
 * What every command can rely on: the global options and the shape of a command group. Kept
 * apart from main.ts so command files do not import the program that imports them.
 */
import type { Command } from 'commander';

/** Options of the `xdpkit` program itself, accepted before or after the subcommand. */
export interface GlobalOptions {
  /** Machine-readable output on stdout: results and errors as JSON. */
  json: boolean;
  /** Show stack traces of errors. */
  debug: boolean;
}

/** A command group (`trace`, `doctor`, `prog`, …): a function that builds its Command. */
export type CommandGroup = () => Command;

/** The global options as seen from `command` (any depth below the program). */
export function globalOptions(command: Command): GlobalOptions {
  const options = command.optsWithGlobals<Partial<GlobalOptions>>();
  return { json: options.json === true, debug: options.debug === true };
}
