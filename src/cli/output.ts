/**
 * Everything a command prints goes through here, so that human output looks the same in every
 * command and `--json` output is always valid JSON on stdout (notes and warnings go to stderr,
 * where they cannot corrupt it). Colour only when the stream is a terminal and NO_COLOR is unset.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import pc from 'picocolors';
import { globalOptions } from './context.js';

export type Colors = ReturnType<typeof pc.createColors>;

/** Whether to colour what goes to `stream`: a terminal, and the user did not opt out. */
export function colorsFor(stream: NodeJS.WriteStream): Colors {
  return pc.createColors(stream.isTTY === true && !('NO_COLOR' in process.env));
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

export type Cell = string | number | bigint | boolean | null | undefined;

// No borders at all: columns separated by two spaces, like `ip -br` or `kubectl get`.
const NO_BORDERS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '',
  middle: '  ',
};

export class Output {
  /** Colours for stdout (results). */
  readonly colors: Colors;
  /** Colours for stderr (notes, warnings, errors). */
  readonly errColors: Colors;

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.colors = colorsFor(stdout);
    this.errColors = colorsFor(stderr);
  }

  /** A command's result: pretty JSON with --json, otherwise whatever `human` prints. */
  result(data: unknown, human: () => void): void {
    if (this.json) this.stdout.write(`${toJson(data, 2)}\n`);
    else human();
  }

  /** One JSON object per line, for streams (`trace --json`) that a consumer reads as they come. */
  jsonLine(data: unknown): void {
    this.stdout.write(`${toJson(data)}\n`);
  }

  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** An aligned table without borders; bold headers on a terminal. */
  table(columns: Column[], rows: Cell[][]): void {
    const table = new Table({
      head: columns.map((column) => this.colors.bold(column.header)),
      colAligns: columns.map((column) => column.align ?? 'left'),
      chars: NO_BORDERS,
      style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
    });
    for (const row of rows) table.push(row.map(cellText));
    // cli-table3 pads the last column too; trailing blanks only get in the way of copy and grep.
    this.line(table.toString().split('\n').map((line) => line.trimEnd()).join('\n'));
  }

  /** `key: value` lines with the values aligned, for one object's details. */
  keyValues(pairs: Array<[string, Cell]>): void {
    const width = Math.max(0, ...pairs.map(([key]) => key.length + 1));
    for (const [key, value] of pairs) {
      this.line(`${this.colors.dim(`${key}:`.padEnd(width))}  ${cellText(value)}`);
    }
  }

  /** Progress and context for a human, on stderr so that stdout stays data. */
  note(text: string): void {
    this.stderr.write(`${this.errColors.dim(text)}\n`);
  }

  warn(text: string): void {
    this.stderr.write(`${this.errColors.yellow('warning:')} ${text}\n`);
  }

  /** Raw text to stderr (the error handler formats its own lines). */
  error(text: string): void {
    this.stderr.write(`${text}\n`);
  }
}

/** The Output for a command's action, honouring the global --json. */
export function outputFor(command: Command): Output {
  return new Output(globalOptions(command).json);
}

function cellText(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number' || typeof value === 'bigint') return formatCount(value);
  return String(value);
}

/**
 * JSON that survives 64-bit counters: a bigint becomes a number when it fits exactly, otherwise
 * a decimal string (JSON.stringify would throw on it).
 */
export function toJson(data: unknown, indent?: number): string {
  return JSON.stringify(
    data,
    (_key, value: unknown) => {
      if (typeof value !== 'bigint') return value;
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    },
    indent,
  );
}

const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** 1234567 → "1,234,567" (fixed locale so output is the same on every machine). */
export function formatCount(value: number | bigint): string {
  return counts.format(value);
}

/** `1 service`, `1,000 services`: a count with its noun, singular or plural. */
export function formatCounted(value: number, word: string, words = `${word}s`): string {
  return `${formatCount(value)} ${value === 1 ? word : words}`;
}

/** 1234 → "1.2 kpps", 3_400_000 → "3.4 Mpps"; `unit` may be "bps" or anything per second. */
export function formatRate(perSecond: number, unit = 'pps'): string {
  return scaled(perSecond, 1000, ['', 'k', 'M', 'G', 'T'], unit);
}

/** 3_565_158 → "3.4 MiB" (powers of 1024, as memory and map sizes are). */
export function formatBytes(bytes: number | bigint): string {
  return scaled(Number(bytes), 1024, ['', 'Ki', 'Mi', 'Gi', 'Ti'], 'B');
}

function scaled(value: number, base: number, prefixes: string[], unit: string): string {
  // Whole numbers below the first step ("512 B", "950 pps"); one decimal above it.
  const digits = (index: number) => (index === 0 ? 0 : 1);
  let index = 0;
  let scaledValue = value;
  // Compare the rounded text, so 999_960 reads "1.0 Mpps" rather than "1000.0 kpps".
  while (index < prefixes.length - 1 && Math.abs(Number(scaledValue.toFixed(digits(index)))) >= base) {
    scaledValue /= base;
    index += 1;
  }
  return `${scaledValue.toFixed(digits(index))} ${prefixes[index]}${unit}`;
}
