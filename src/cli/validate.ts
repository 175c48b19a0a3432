/**
 * Validation of command-line arguments. Every parser takes the raw string and the name of the
 * option it came from, and either returns a typed value or throws an InvalidArgumentError that
 * names the option, shows the value, and says what would be accepted. The rules are zod schemas
 * so they can be reused where the same values arrive as JSON or YAML.
 *
 * With commander: `.option('--mode <mode>', '…', argParser(parseMode, '--mode'))`.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../bpf/errors.js';
import type { XdpModeRequest } from '../bpf/xdp.js';

/** Parses `value` with `schema`; on failure names `option` and adds `hint`. */
function check<T>(schema: z.ZodType<T>, value: string, option: string, hint: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reason = result.error.issues[0]?.message ?? 'not valid';
  throw new InvalidArgumentError(`invalid ${option} ${JSON.stringify(value)}: ${reason}`, { hint });
}

/** Binds a parser to its option name, in the form commander's argParser expects. */
export function argParser<T>(parse: (value: string, option: string) => T, option: string): (value: string) => T {
  return (value) => parse(value, option);
}

/** For options given several times (`--set a=1 --set b=2`): collects every parsed value. */
export function repeatable<T>(parse: (value: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), parse(value)];
}

// --- XDP attach mode --------------------------------------------------------------------------

export const XDP_MODES = ['native', 'generic', 'auto'] as const satisfies readonly XdpModeRequest[];

export const modeSchema = z
  .string()
  // xdp-loader calls generic mode "skb"; accept its spelling so its users are not tripped up.
  .transform((value) => (value === 'skb' ? 'generic' : value))
  .pipe(z.enum(XDP_MODES, { error: 'expected native, generic or auto' }));

export function parseMode(value: string, option = '--mode'): XdpModeRequest {
  return check(modeSchema, value, option, `use ${option} native (driver), generic (any interface, slower) or auto`);
}

// --- Interface names --------------------------------------------------------------------------

/** The kernel's dev_valid_name(): 1..15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or blanks. */
export const interfaceNameSchema = z
  .string()
  .min(1, { error: 'an interface name cannot be empty' })
  .refine((name) => Buffer.byteLength(name) <= 15, { error: 'longer than 15 bytes, the kernel limit' })
  .refine((name) => !/[/:\s]/.test(name), { error: "contains '/', ':' or whitespace" })
  .refine((name) => name !== '.' && name !== '..', { error: "'.' and '..' are not interface names" });

export function parseInterfaceName(value: string, option = 'interface'): string {
  return check(interfaceNameSchema, value, option, 'list the interfaces with: ip -br link');
}

// --- Numbers ----------------------------------------------------------------------------------

const decimalInteger = z.string().regex(/^\d+$/, { error: 'expected a whole number' }).transform(Number);

export const portSchema = decimalInteger.pipe(z.number().max(65535, { error: 'a port is 0 to 65535' }));

export function parsePort(value: string, option = '--port'): number {
  return check(portSchema, value, option, `give ${option} a number from 0 to 65535`);
}

export interface PortRange {
  from: number;
  to: number;
}

/** "80" or "1024-2047" (inclusive). */
export const portRangeSchema = z
  .string()
  .regex(/^\d+(-\d+)?$/, { error: 'expected a port or a range like 1024-2047' })
  .transform((text) => {
    const [from, to = from] = text.split('-').map(Number) as [number, number?];
    return { from, to };
  })
  .refine(({ from, to }) => from <= 65535 && to <= 65535, { error: 'a port is 0 to 65535' })
  .refine(({ from, to }) => from <= to, { error: 'the range ends before it starts' });

export function parsePortRange(value: string, option = '--ports'): PortRange {
  return check(portRangeSchema, value, option, `give ${option} a port (80) or a range (1024-2047) within 0-65535`);
}

// The input is digits only, so int() can fail only on size (it also demands a safe integer).
export const positiveIntSchema = decimalInteger.pipe(
  z.number().int({ error: 'too large' }).positive({ error: 'must be at least 1' }),
);

export function parsePositiveInt(value: string, option: string): number {
  return check(positiveIntSchema, value, option, `give ${option} a whole number of 1 or more`);
}

/** Positive decimals too, for durations in seconds such as `--timeout 0.5`. */
export const positiveNumberSchema = z
  .string()
  .regex(/^\d+(\.\d+)?$/, { error: 'expected a number' })
  .transform(Number)
  .pipe(z.number().positive({ error: 'must be more than 0' }));

export function parsePositiveNumber(value: string, option: string): number {
  return check(positiveNumberSchema, value, option, `give ${option} a number greater than 0, e.g. ${option} 5`);
}

// --- Regular expressions ----------------------------------------------------------------------

export function parseRegex(value: string, option = '--grep'): RegExp {
  try {
    return new RegExp(value);
  } catch (error) {
    throw new InvalidArgumentError(`invalid ${option} ${JSON.stringify(value)}: ${(error as Error).message}`, {
      hint: `${option} takes a JavaScript regular expression; quote it for the shell, e.g. ${option} 'drop|pass'`,
    });
  }
}

// --- --set key=value --------------------------------------------------------------------------

export type SettingValue = string | number | bigint | boolean;

export interface Setting {
  key: string;
  value: SettingValue;
}

/**
 * The value's type is inferred: true/false → boolean; decimal, negative or 0x-hex integers →
 * number (bigint beyond 2^53, as 64-bit constants need); decimals → number; anything else, or a
 * value in quotes (`port="80"`), → string.
 */
export function inferValue(text: string): SettingValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  const quoted = /^(["'])(.*)\1$/s.exec(text);
  if (quoted) return quoted[2] ?? '';
  if (/^-?(\d+|0x[0-9a-f]+)$/i.test(text)) {
    const negative = text.startsWith('-');
    const magnitude = BigInt(negative ? text.slice(1) : text);
    const integer = negative ? -magnitude : magnitude;
    return integer >= BigInt(Number.MIN_SAFE_INTEGER) && integer <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(integer)
      : integer;
  }
  if (/^-?\d+\.\d+$/.test(text)) return Number(text);
  return text;
}

export const settingSchema = z
  .string()
  .regex(/^[^=]+=/, { error: 'expected key=value' })
  .transform((text) => {
    const at = text.indexOf('=');
    return { key: text.slice(0, at).trim(), raw: text.slice(at + 1) };
  })
  .refine(({ key }) => /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key), {
    error: 'the key must start with a letter or _ and contain only letters, digits, _, . and -',
  })
  .refine(({ raw }) => raw.length > 0, { error: 'the value is empty (write key="" for an empty string)' })
  .transform(({ key, raw }): Setting => ({ key, value: inferValue(raw) }));

export function parseSet(value: string, option = '--set'): Setting {
  return check(settingSchema, value, option, `write ${option} key=value, e.g. ${option} port=53 ${option} verbose=true`);
}
