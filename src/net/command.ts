/** Running a command and collecting its output, with a timeout and errors that show stderr. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { SystemError } from '../bpf/errors.js';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Bytes written to stdin (then closed). */
  input?: string | Buffer;
  /** Throw a SystemError on a non-zero exit (default true). */
  check?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) throw new SystemError('runCommand: empty command');
  const spawnOptions: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}) };
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(new SystemError(`running ${argv.join(' ')}: ${cause.message}`, { cause }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (timedOut) {
        reject(new SystemError(`${argv.join(' ')} did not finish within ${timeoutMs} ms`, { details: result.stderr.trim() || undefined }));
      } else if ((options.check ?? true) && code !== 0) {
        reject(new SystemError(`${argv.join(' ')} failed (${code === null ? `signal ${signal}` : `exit ${code}`})`, { details: result.stderr.trim() || undefined }));
      } else {
        resolve(result);
      }
    });
    child.stdin!.on('error', () => undefined); // a command that exits without reading stdin
    child.stdin!.end(options.input ?? '');
  });
}
