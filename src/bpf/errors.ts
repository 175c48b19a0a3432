/**
 * One error hierarchy for everything the user can hit. Each error carries what happened
 * (message), why (the errno or the kernel's own words in `details`), and what to do (`hint`).
 * The CLI prints all three and exits non-zero; the stack trace only with --debug.
 */
import { constants } from 'node:os';

export interface XdpkitErrorOptions {
  /** What to do about it: a command to run or a flag to add. */
  hint?: string;
  /** Extra text the user needs to see, e.g. a trimmed verifier log or a list of sections. */
  details?: string;
  /** Positive errno value when the failure came from a syscall. */
  errno?: number;
  cause?: unknown;
}

export class XdpkitError extends Error {
  readonly hint: string | undefined;
  readonly details: string | undefined;
  readonly errno: number | undefined;

  constructor(message: string, options: XdpkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.details = options.details;
    this.errno = options.errno;
  }

  /** Name of the errno, e.g. "EPERM", when there is one. */
  get code(): string | undefined {
    return this.errno === undefined ? undefined : errnoName(this.errno);
  }
}

/** Not root, or missing CAP_BPF / CAP_NET_ADMIN / CAP_PERFMON. */
export class PermissionDeniedError extends XdpkitError {}
/** The verifier refused a program; `details` holds the trimmed log, `log` the full one. */
export class VerifierError extends XdpkitError {
  constructor(
    message: string,
    readonly log: string,
    options: XdpkitErrorOptions = {},
  ) {
    super(message, options);
  }
}
/** The kernel, driver or libbpf lacks a feature (e.g. native XDP on a bridge). */
export class NotSupportedError extends XdpkitError {}
/** Something is already in place (another XDP program on the interface). */
export class BusyError extends XdpkitError {}
/** An interface, object file, section, program, map or pin that does not exist. */
export class NotFoundError extends XdpkitError {}
/** The user gave a value that cannot be used (bad key, bad option, bad packet). */
export class InvalidArgumentError extends XdpkitError {}
/** A map is full (E2BIG on update). */
export class MapFullError extends XdpkitError {}
/** Any other failed syscall or libbpf call, wrapped with what was being done. */
export class SystemError extends XdpkitError {}

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `errno ${Math.abs(errno)}`;
}

const PERMISSION_HINT =
  'run as root (sudo xdpkit …) or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON to the process';

/**
 * Turns a negative errno from libbpf or a syscall into the matching error class, with
 * `doing` ("loading program xdp_drop", "updating map xdp_stats") as the message prefix.
 */
export function errorFromErrno(doing: string, errno: number, options: XdpkitErrorOptions = {}): XdpkitError {
  const code = Math.abs(errno);
  const text = `${doing}: ${errnoName(code)}`;
  const withErrno = { ...options, errno: code };
  switch (code) {
    case constants.errno.EPERM:
    case constants.errno.EACCES:
      // The code (EPERM) stays in `code`; the words are what a user running without root reads.
      return new PermissionDeniedError(`${doing}: permission denied`, { hint: PERMISSION_HINT, ...withErrno });
    case constants.errno.EOPNOTSUPP:
      return new NotSupportedError(text, withErrno);
    case constants.errno.EBUSY:
    case constants.errno.EEXIST:
      return new BusyError(text, withErrno);
    case constants.errno.ENOENT:
    case constants.errno.ENODEV:
      return new NotFoundError(text, withErrno);
    case constants.errno.E2BIG:
      return new MapFullError(text, withErrno);
    case constants.errno.EINVAL:
      return new InvalidArgumentError(text, withErrno);
    default:
      return new SystemError(text, withErrno);
  }
}
