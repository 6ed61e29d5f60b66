// SPDX-License-Identifier: Apache-2.0
import { stringify as toYaml } from 'yaml';
import { isHeraldConnectionError, isHeraldProblemError, InvalidEventError } from '../../client/index.js';

/** Exit codes of every client command (architecture §8). */
export const EXIT = { done: 0, refused: 1, usage: 2 } as const;

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Bad usage detected by a command itself (commander reports its own parse errors). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Colours only on a terminal, never with `NO_COLOR` (https://no-color.org) or `TERM=dumb`. */
export function colourEnabled(stream: NodeJS.WriteStream): boolean {
  const noColor = process.env['NO_COLOR'];
  return stream.isTTY === true && (noColor === undefined || noColor === '') && process.env['TERM'] !== 'dumb';
}

export interface Paint {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function paint(stream: NodeJS.WriteStream): Paint {
  const on = colourEnabled(stream);
  const wrap = (open: number, close: number) => (text: string) =>
    on ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}

/** The running command's `-o`, for `reportError` (which runs outside the command's action). */
let commandOutput: string | undefined;

/** Records the running command's `-o` (undefined without one); a `preAction` hook calls it. */
export function setCommandOutput(given: string | undefined): void {
  commandOutput = given;
}

/** `-o` when given; otherwise a table on a terminal and JSON when piped. */
export function resolveFormat(given: string | undefined): OutputFormat {
  if (given === undefined) return process.stdout.isTTY === true ? 'table' : 'json';
  if (given === 'table' || given === 'json' || given === 'yaml') return given;
  throw new UsageError(`-o must be table, json or yaml, got ${JSON.stringify(given)}`);
}

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => unknown;
  /** Optional colouring of the cell text. */
  readonly colour?: (text: string, row: T) => string;
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** A plain aligned table (colours do not count towards the width). */
export function table<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  const p = paint(process.stdout);
  const texts = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...texts.map((cells) => (cells[i] as string).length)),
  );
  const lines = [
    p.bold(
      columns
        .map((column, i) => column.header.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    ),
  ];
  rows.forEach((row, r) => {
    const cells = texts[r] as string[];
    lines.push(
      columns
        .map((column, i) => {
          const text = (cells[i] as string).padEnd(widths[i] as number);
          return column.colour === undefined ? text : column.colour(text, row);
        })
        .join('  ')
        .trimEnd(),
    );
  });
  return lines.join('\n') + '\n';
}

/** Prints a result in the chosen format: `table` uses the columns, json/yaml the full documents. */
export function print<T>(
  format: OutputFormat,
  value: T | readonly T[],
  columns: ReadonlyArray<Column<T>>,
): void {
  if (format === 'json') process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(toYaml(value));
  else process.stdout.write(table(Array.isArray(value) ? (value as readonly T[]) : [value as T], columns));
}

/** A state in colour: active green, paused (and validating) yellow, failing and invalid red. */
export function stateColour(text: string): string {
  const p = paint(process.stdout);
  const state = text.trim();
  if (state === 'active') return p.green(text);
  return state === 'failing' || state === 'invalid' ? p.red(text) : p.yellow(text);
}

/**
 * Prints an error on stderr and gives the exit code: 1 for a refusal or an unreachable broker, 2 for bad
 * usage. A refusal is the broker's problem+json document, on one line, when the command's output is JSON
 * or YAML (`-o`, or piped: what a script reads), and one readable line (with its pointer or attribute)
 * when it is a table (on a terminal).
 */
export function reportError(error: unknown): number {
  const p = paint(process.stderr);
  const label = p.red('herald:');
  if (isHeraldProblemError(error)) {
    const { problem } = error;
    if (resolveFormat(commandOutput) !== 'table') {
      process.stderr.write(`${JSON.stringify(problem)}\n`);
      return EXIT.refused;
    }
    const where =
      problem.pointer !== undefined && problem.pointer !== ''
        ? ` (at ${problem.pointer})`
        : problem.attribute !== undefined
          ? ` (attribute ${problem.attribute})`
          : '';
    const hint =
      problem.status === 401
        ? ' — pass a token with --token or HERALD_TOKEN'
        : problem.status === 403
          ? ' — the token is not allowed to do this'
          : '';
    process.stderr.write(
      `${label} the broker refused: ${problem.status} ${p.bold(problem.code)}: ${problem.detail}${where}${hint}\n`,
    );
    return EXIT.refused;
  }
  if (isHeraldConnectionError(error)) {
    process.stderr.write(`${label} ${error.message}\n`);
    return EXIT.refused;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`${label} ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof InvalidEventError) {
    process.stderr.write(`${label} invalid event: ${error.code}: ${error.message}\n`);
    return EXIT.usage;
  }
  throw error;
}

/**
 * A one-line progress bar on stderr, drawn only on a terminal and at most ten times a second.
 *
 * @remarks Hand-written (a carriage return and a line) rather than a dependency: it is all we need.
 */
export class ProgressBar {
  private readonly enabled: boolean;
  private readonly started = Date.now();
  private drawnAt = 0;
  private done = 0;

  constructor(
    private total: number,
    private readonly unit: string,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  tick(count = 1): void {
    this.done += count;
    const now = Date.now();
    if (this.enabled && (now - this.drawnAt > 100 || this.done >= this.total)) {
      this.drawnAt = now;
      this.draw();
    }
  }

  private draw(): void {
    const width = 30;
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const filled = Math.round(fraction * width);
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    const rate = Math.round(this.done / seconds);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ` +
        `${this.done}/${this.total} ${this.unit} ${rate}/s\u001b[K`,
    );
  }

  finish(): void {
    if (!this.enabled) return;
    this.draw();
    process.stderr.write('\n');
  }
}
