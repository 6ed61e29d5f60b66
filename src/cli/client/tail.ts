// SPDX-License-Identifier: Apache-2.0
import { Option } from 'commander';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { CesqlParseError, compile } from '../../cesql/index.js';
import { DEFAULT_IDLE_TIMEOUT_MS, isHeraldConnectionError } from '../../client/index.js';
import type { TailedEvent, TailStart } from '../../client/index.js';
import {
  clientFor,
  connectionOptions,
  examples,
  formatOf,
  parsePosition,
  positiveInteger,
} from './common.js';
import type { ConnectionFlags } from './common.js';
import { EXIT, paint, ProgressBar, UsageError } from './output.js';

interface TailFlags extends ConnectionFlags {
  readonly from?: string;
  readonly filter?: string;
  readonly limit?: number;
  readonly idleTimeout: number;
}

/** `--from` as the client takes it; checked by the same rule as every position flag (`parsePosition`). */
function startOf(value: string | undefined): TailStart | undefined {
  if (value === undefined) return undefined;
  const position = parsePosition('--from', value);
  return typeof position === 'string' ? position : 'sequence' in position ? position.sequence : position.time;
}

/** `--idle-timeout`: whole milliseconds, 0 included (as `--timeout` takes them). */
function idleMilliseconds(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new UsageError(
      `--idle-timeout must be a whole number of milliseconds, got ${JSON.stringify(value)}`,
    );
  return Number(value);
}

/** Checks the CESQL here first, so a typo is shown with its position before anything is sent. */
function checkFilter(expression: string | undefined): void {
  if (expression === undefined) return;
  try {
    compile(expression);
  } catch (error) {
    if (error instanceof CesqlParseError) {
      throw new UsageError(
        `--filter is not valid CESQL: ${error.detail} at line ${error.position.line}, column ${error.position.column}`,
      );
    }
    throw error;
  }
}

const TABLE_COLUMNS = ['SEQUENCE', 'TIME', 'TYPE', 'SOURCE', 'ID', 'SUBJECT'] as const;

function tableRow({ sequence, json }: TailedEvent): string[] {
  const text = (name: string) => (json[name] === undefined ? '' : String(json[name]));
  return [String(sequence), text('time'), text('type'), text('source'), text('id'), text('subject')];
}

export function registerTail(program: Command): void {
  const command = program
    .command('tail')
    .description(
      'follow the event log (Server-Sent Events); resumes across broker restarts without gaps or repeats',
    )
    .option('--from <position>', 'earliest, latest (default), a sequence number or an RFC 3339 time')
    .option('--filter <cesql>', 'only events for which this CloudEvents SQL expression is TRUE')
    .option('--limit <n>', 'stop after this many events', positiveInteger('--limit'))
    .addOption(
      // A connection that died without an end (a dropped NAT flow, a frozen broker) is otherwise
      // waited on for ever; the broker's heartbeat keeps a live stream from ever being this quiet.
      new Option(
        '--idle-timeout <ms>',
        'reconnect when the stream is silent this long; the broker sends a heartbeat every 15 s (0: never)',
      )
        .default(DEFAULT_IDLE_TIMEOUT_MS)
        .argParser(idleMilliseconds),
    );
  connectionOptions(command);
  examples(command, [
    'herald tail',
    'herald tail --from earliest --limit 10 -o json',
    `herald tail --from 2026-01-01T00:00:00Z --filter "type LIKE 'com.example.%'"`,
    'herald tail --from earliest -o json > log.ndjson',
  ]);
  command.action(async (flags: TailFlags) => {
    const from = startOf(flags.from);
    checkFilter(flags.filter);
    const format = formatOf(flags);
    const client = clientFor(flags);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Progress only where it cannot mix with the events: stderr a terminal, stdout redirected.
    let bar: ProgressBar | undefined;
    let catchUpTo = 0;
    if (from === 'earliest' && process.stderr.isTTY === true && process.stdout.isTTY !== true) {
      catchUpTo = await client.snapshot().then(
        (s) => s.lastSequence,
        () => 0,
      );
      if (catchUpTo > 0) bar = new ProgressBar(catchUpTo, 'events');
    }
    const p = paint(process.stderr);
    let reconnecting = false;
    let connected = false;
    let count = 0;
    let widths: number[] | undefined;
    try {
      for await (const item of client.tail({
        ...(from === undefined ? {} : { from }),
        ...(flags.filter === undefined ? {} : { filter: flags.filter }),
        signal: controller.signal,
        idleTimeoutMs: flags.idleTimeout,
        onConnect: () => {
          connected = true;
        },
        onReconnect: (attempt, error) => {
          // A broker never reached (a wrong --url, nothing listening) is exit 1 like for every command;
          // only a connection that was once open is worth waiting for (a restart, a dropped proxy).
          if (!connected && error !== undefined && isHeraldConnectionError(error)) throw error;
          if (!reconnecting) {
            process.stderr.write(
              `${p.yellow('herald:')} connection to the broker lost (${error?.message ?? 'stream ended'}); reconnecting…\n`,
            );
          }
          reconnecting = attempt > 0;
        },
      })) {
        if (reconnecting) {
          process.stderr.write(
            `${p.green('herald:')} reconnected; resuming after sequence ${item.sequence - 1}\n`,
          );
          reconnecting = false;
        }
        if (format === 'json')
          process.stdout.write(JSON.stringify({ sequence: item.sequence, event: item.json }) + '\n');
        else if (format === 'yaml')
          process.stdout.write('---\n' + toYaml({ sequence: item.sequence, event: item.json }));
        else {
          const row = tableRow(item);
          if (widths === undefined) {
            widths = [8, 24, 32, 20, 36, 0];
            process.stdout.write(
              paint(process.stdout).bold(
                TABLE_COLUMNS.map((h, i) => h.padEnd(widths?.[i] ?? 0))
                  .join('  ')
                  .trimEnd(),
              ) + '\n',
            );
          }
          process.stdout.write(
            row
              .map((cell, i) => cell.padEnd(widths?.[i] ?? 0))
              .join('  ')
              .trimEnd() + '\n',
          );
        }
        if (bar !== undefined) {
          bar.tick(item.sequence <= catchUpTo ? 1 : 0);
          if (item.sequence >= catchUpTo) {
            bar.finish();
            bar = undefined;
          }
        }
        count++;
        if (flags.limit !== undefined && count >= flags.limit) break;
      }
    } finally {
      bar?.finish();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    process.exitCode = EXIT.done;
  });
}
