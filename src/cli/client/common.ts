// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import { isTimestamp } from '../../cloudevents/index.js';
import { DEFAULT_TIMEOUT_MS, HeraldClient } from '../../client/index.js';
import type { HeraldClientOptions } from '../../client/index.js';
import { resolveFormat, UsageError } from './output.js';
import type { OutputFormat } from './output.js';

/** The flags every client command takes (architecture §8). */
export interface ConnectionFlags {
  readonly url: string;
  readonly token?: string;
  readonly output?: string;
  readonly timeout?: number;
}

export const DEFAULT_URL = 'http://localhost:8080';

/** Adds `--url`, `--token` and `-o` to a client command. */
export function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'the broker').env('HERALD_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'sent as Authorization: Bearer <token>').env('HERALD_TOKEN'))
    .addOption(
      // A broker that accepts connections but never answers ends the command instead of holding it.
      new Option('--timeout <ms>', 'how long to wait for each answer of the broker (0: for ever)')
        .env('HERALD_TIMEOUT')
        .default(DEFAULT_TIMEOUT_MS)
        .argParser(wholeMilliseconds('--timeout')),
    )
    .addOption(
      new Option(
        '-o, --output <format>',
        'table, json or yaml (default: table on a terminal, json otherwise)',
      ).choices(['table', 'json', 'yaml']),
    );
}

/** Appends an Examples section to a command's help. */
export function examples(command: Command, lines: readonly string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`);
}

export function clientFor(flags: ConnectionFlags, extra: Partial<HeraldClientOptions> = {}): HeraldClient {
  try {
    return new HeraldClient({
      ...extra,
      url: flags.url,
      ...(flags.token === undefined ? {} : { token: flags.token }),
      ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
    });
  } catch (error) {
    throw new UsageError(`--url: ${(error as Error).message}`);
  }
}

export function formatOf(flags: ConnectionFlags): OutputFormat {
  return resolveFormat(flags.output);
}

/** A JSON value given inline, or `@FILE` to read it from a file. */
export function readJsonArgument(flag: string, value: string): unknown {
  const text = value.startsWith('@') ? readFileArgument(flag, value.slice(1)) : value;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
}

export function readFileArgument(flag: string, file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/**
 * `earliest`, `latest`, a sequence number, or an RFC 3339 time — as a seek/startAt position; anything
 * else is bad usage. Checked as strictly as the broker does: `Date.parse` alone rolls 2026-02-30 over to
 * 2 March and reads a time without an offset in this machine's zone, and a sequence past
 * `Number.MAX_SAFE_INTEGER` is no sequence at all (the client refuses it with an error, not a usage line).
 */
export function parsePosition(
  flag: string,
  value: string,
): 'earliest' | 'latest' | { sequence: number } | { time: string } {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return { sequence: Number(value) };
  if (isTimestamp(value)) return { time: value };
  throw new UsageError(
    `${flag} must be earliest, latest, a sequence number or an RFC 3339 time, got ${JSON.stringify(value)}`,
  );
}

/** `k=v` pairs of a repeatable flag. */
export function keyValues(
  flag: string,
  values: readonly string[] | undefined,
): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const result: Record<string, string> = {};
  for (const pair of values) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`${flag} takes name=value, got ${JSON.stringify(pair)}`);
    result[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return result;
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A number of milliseconds, 0 included. */
function wholeMilliseconds(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
      throw new UsageError(`${flag} must be a whole number of milliseconds, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function positiveInteger(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}
