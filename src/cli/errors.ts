/**
 * The one place where errors become what the user sees and the exit code.
 *
 *   error: <what happened>
 *     <details, indented>
 *   hint: <what to do>
 *
 * Exit codes: 2 when the command line was wrong (nothing was done), 1 when the command failed.
 * With --json the same information goes to stdout as {"error": {type, message, code, hint,
 * details}} so that a script reading stdout always gets JSON.
 */
import { inspect } from 'node:util';
import { CommanderError } from 'commander';
import { InvalidArgumentError, XdpkitError, type XdpkitErrorOptions } from '../bpf/errors.js';
import type { GlobalOptions } from './context.js';
import { Output, toJson } from './output.js';

/** A command line commander could not parse: unknown command or option, missing argument. */
export class UsageError extends XdpkitError {
  /** Commander's code, e.g. "commander.unknownOption". */
  readonly commanderCode: string;

  constructor(error: CommanderError, commandPath: string) {
    // Commander's text is "error: unknown command 'x'\n(Did you mean y?)".
    const [first = '', ...rest] = error.message.replace(/^error: /, '').split('\n');
    const suggestion = rest.join(' ').replace(/^\((.*)\)$/, '$1').trim();
    super(first, {
      hint: suggestion !== '' ? `${suggestion} (see: ${commandPath} --help)` : `see: ${commandPath} --help`,
      cause: error,
    });
    this.commanderCode = error.code;
  }

  override get code(): string {
    return this.commanderCode;
  }
}

/**
 * A command line that parsed but does not make sense (an option the chosen program does not
 * take), found once the action looked at it and before it changed anything: exit status 2.
 */
export class CommandLineError extends InvalidArgumentError {
  constructor(message: string, options: XdpkitErrorOptions = {}) {
    super(message, options);
    // To scripts it is the same kind of error as a bad option value caught while parsing.
    this.name = 'InvalidArgumentError';
  }

  static from(error: InvalidArgumentError): CommandLineError {
    return new CommandLineError(error.message, {
      ...(error.hint !== undefined ? { hint: error.hint } : {}),
      ...(error.details !== undefined ? { details: error.details } : {}),
      cause: error,
    });
  }
}

/** Runs `validate` (checks of the command line); its InvalidArgumentErrors become usage errors. */
export function checkCommandLine<T>(validate: () => T): T {
  try {
    return validate();
  } catch (error) {
    throw error instanceof InvalidArgumentError && !(error instanceof CommandLineError) ? CommandLineError.from(error) : error;
  }
}

export interface ReportContext extends GlobalOptions {
  /** True until an action starts: errors before then come from parsing the command line. */
  parsing: boolean;
}

/** Prints `error` for the user and returns the exit code. */
export function reportError(error: unknown, context: ReportContext, out: Output = new Output(context.json)): number {
  // Help and --version end parsing through the same path, successfully.
  if (error instanceof CommanderError && error.exitCode === 0) return 0;
  // `xdpkit prog` without a verb: commander has already printed the help to stderr.
  if (error instanceof CommanderError && error.code === 'commander.help') return 2;

  const usage = error instanceof UsageError || error instanceof CommandLineError || (context.parsing && error instanceof InvalidArgumentError);
  const exitCode = usage ? 2 : 1;
  if (context.json) out.line(toJson({ error: describe(error, context.debug) }, 2));
  else printHuman(error, context.debug, out);
  return exitCode;
}

function describe(error: unknown, debug: boolean): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: 'Error', message: String(error) };
  const known = error instanceof XdpkitError;
  return {
    type: error.name,
    message: error.message,
    code: known ? error.code : (error as NodeJS.ErrnoException).code,
    hint: known ? error.hint : undefined,
    details: known ? error.details : undefined,
    ...(debug ? { stack: inspect(error) } : {}),
  };
}

function printHuman(error: unknown, debug: boolean, out: Output): void {
  const { red, bold, cyan, dim } = out.errColors;
  const message = error instanceof Error ? error.message : String(error);
  out.error(`${red(bold('error:'))} ${message}`);
  if (error instanceof XdpkitError) {
    if (error.details) out.error(error.details.trimEnd().replace(/^/gm, '  '));
    if (error.hint) out.error(`${cyan('hint:')} ${error.hint}`);
  }
  // inspect() shows the stack and the whole `cause` chain, which is what --debug is for.
  if (debug) out.error(dim(inspect(error)));
  else if (!(error instanceof XdpkitError)) out.error(dim('(run with --debug for the stack)'));
}
