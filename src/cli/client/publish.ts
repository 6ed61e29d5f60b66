// SPDX-License-Identifier: Apache-2.0
import { createReadStream, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { PublishError, validateStructured } from '../../client/index.js';
import type { StructuredEvent } from '../../client/index.js';
import {
  clientFor,
  collect,
  connectionOptions,
  examples,
  formatOf,
  keyValues,
  positiveInteger,
} from './common.js';
import type { ConnectionFlags } from './common.js';
import { EXIT, print, ProgressBar, reportError, UsageError } from './output.js';

interface PublishFlags extends ConnectionFlags {
  readonly type?: string;
  readonly source?: string;
  readonly id?: string;
  readonly subject?: string;
  readonly data?: string;
  readonly datacontenttype?: string;
  readonly ext?: string[];
  readonly file?: string;
  readonly continueOnError?: boolean;
  readonly batchSize?: number;
}

/** Problems printed before the rest are only counted. */
const SHOWN_PROBLEMS = 20;

export function registerPublish(program: Command): void {
  const command = program
    .command('publish')
    .description('publish one event from flags, or many from an NDJSON file (one structured event per line)')
    .option('--type <type>', 'the event type')
    .option('--source <source>', 'the event source (a URI-reference)')
    .option('--id <id>', 'the event id (default: a random UUID)')
    .option('--subject <subject>', 'the event subject')
    .option('--data <json|@file>', 'the data: JSON, text, or @FILE to read it from a file')
    .option('--datacontenttype <type>', 'the media type of --data (default: application/json for JSON)')
    .option('--ext <name=value>', 'an extension attribute (repeatable)', collect)
    .option('--file <file>', 'an NDJSON file of structured events, or - for standard input')
    .option('--continue-on-error', 'publish the valid lines of --file and report the invalid ones')
    .option(
      '--batch-size <n>',
      'events per request with --file (default 1000)',
      positiveInteger('--batch-size'),
    );
  connectionOptions(command);
  examples(command, [
    `herald publish --type com.example.order.created --source /shop --data '{"order": 42}'`,
    `herald publish --type com.example.note --source /notes --data @note.txt --datacontenttype text/plain --ext region=eu`,
    'herald publish --file events.ndjson',
    'generate-events | herald publish --file - --continue-on-error',
  ]);
  command.action(async (flags: PublishFlags) => {
    process.exitCode =
      flags.file === undefined ? await publishOne(flags) : await publishFile(flags, flags.file);
  });
}

/** `--data`: JSON when it parses, otherwise text; `@FILE` reads a file (bytes when not UTF-8 text). */
function dataMembers(flags: PublishFlags): StructuredEvent {
  if (flags.data === undefined)
    return flags.datacontenttype === undefined ? {} : { datacontenttype: flags.datacontenttype };
  let bytes: Buffer;
  if (flags.data.startsWith('@')) {
    try {
      bytes = readFileSync(flags.data.slice(1) === '-' ? 0 : flags.data.slice(1));
    } catch (error) {
      throw new UsageError(
        `--data: cannot read ${flags.data.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? ''}`,
      );
    }
  } else {
    bytes = Buffer.from(flags.data);
  }
  const declared = flags.datacontenttype;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const isUtf8 = Buffer.from(text).equals(bytes);
  const jsonDeclared = declared === undefined || /[/+]json\s*(;|$)/i.test(declared);
  if (isUtf8 && jsonDeclared) {
    try {
      return { datacontenttype: declared ?? 'application/json', data: JSON.parse(text) as unknown };
    } catch {
      if (declared !== undefined) throw new UsageError(`--data is not valid JSON for ${declared}`);
    }
  }
  if (isUtf8) return { datacontenttype: declared ?? 'text/plain', data: text };
  return { datacontenttype: declared ?? 'application/octet-stream', data_base64: bytes.toString('base64') };
}

/**
 * Names `--ext` may not use, with the flag that sets each: an "extension" of the same name would silently
 * replace what that flag (or its default) set. `time` and `dataschema` have no flag and may be given here.
 */
const SET_BY_FLAGS: Readonly<Record<string, string>> = {
  specversion: 'none: it is always 1.0',
  id: '--id',
  source: '--source',
  type: '--type',
  subject: '--subject',
  datacontenttype: '--datacontenttype',
  data: '--data',
  data_base64: '--data @FILE',
};

function extensions(values: readonly string[] | undefined): Record<string, string> | undefined {
  const pairs = keyValues('--ext', values);
  for (const name in pairs) {
    const flag = SET_BY_FLAGS[name.toLowerCase()];
    if (flag !== undefined) {
      throw new UsageError(`--ext ${name}: not an extension attribute (its flag: ${flag})`);
    }
  }
  return pairs;
}

async function publishOne(flags: PublishFlags): Promise<number> {
  if (flags.type === undefined || flags.source === undefined) {
    throw new UsageError('publish needs --type and --source (or --file)');
  }
  const event: StructuredEvent = {
    specversion: '1.0',
    id: flags.id ?? randomUUID(),
    source: flags.source,
    type: flags.type,
    ...(flags.subject === undefined ? {} : { subject: flags.subject }),
    ...extensions(flags.ext),
    ...dataMembers(flags),
  };
  validateStructured(event);
  // A person is waiting: an unreachable broker is reported after a few quick tries, not after a minute.
  const client = clientFor(flags, { maxAttempts: 3, lingerMs: 0 });
  await client.publish(event);
  print(formatOf(flags), { published: 1, id: event['id'], source: event['source'], type: event['type'] }, [
    { header: 'PUBLISHED', value: (r) => r.published },
    { header: 'ID', value: (r) => r.id },
    { header: 'SOURCE', value: (r) => r.source },
    { header: 'TYPE', value: (r) => r.type },
  ]);
  return EXIT.done;
}

interface LineProblem {
  readonly line: number;
  readonly reason: string;
}

/** Reads NDJSON lines with their numbers; blank lines are skipped. */
async function* ndjsonLines(input: Readable): AsyncGenerator<{ line: number; text: string }> {
  const reader = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line++;
    if (text.trim() !== '') yield { line, text };
  }
}

/** Parses and validates one line exactly as the broker would; the reason when it is not an event. */
function checkLine(text: string): { event: StructuredEvent } | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { reason: `not valid JSON: ${(error as Error).message}` };
  }
  try {
    validateStructured(value);
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return { reason: code === undefined ? message : `${code}: ${message}` };
  }
  return { event: value as StructuredEvent };
}

function openInput(file: string): Readable {
  if (file === '-') return process.stdin;
  const stream = createReadStream(file);
  return stream;
}

async function checkReadable(file: string): Promise<void> {
  if (file === '-') return;
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file);
    stream.once('open', () => {
      stream.destroy();
      resolve();
    });
    stream.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`--file: cannot read ${file}: ${error.code ?? error.message}`)),
    );
  });
}

function printProblems(problems: readonly LineProblem[], total: number, file: string): void {
  const name = file === '-' ? 'stdin' : file;
  for (const problem of problems.slice(0, SHOWN_PROBLEMS)) {
    process.stderr.write(`herald: ${name}:${problem.line}: ${problem.reason}\n`);
  }
  if (total > SHOWN_PROBLEMS)
    process.stderr.write(`herald: … and ${total - SHOWN_PROBLEMS} more invalid lines\n`);
}

/**
 * `--file`: every line is validated first; with an invalid line nothing is published (unless
 * `--continue-on-error`). A file is read twice (validate, then send) so memory stays flat; standard
 * input is kept in memory between the two passes, since it cannot be read again.
 */
async function publishFile(flags: PublishFlags, file: string): Promise<number> {
  if (flags.type !== undefined || flags.source !== undefined || flags.data !== undefined) {
    throw new UsageError('--file cannot be combined with --type, --source or --data');
  }
  await checkReadable(file);
  const problems: LineProblem[] = [];
  let invalid = 0;
  let valid = 0;
  const kept: string[] | undefined = file === '-' ? [] : undefined;
  for await (const { line, text } of ndjsonLines(openInput(file))) {
    const checked = checkLine(text);
    if ('reason' in checked) {
      invalid++;
      if (problems.length < SHOWN_PROBLEMS) problems.push({ line, reason: checked.reason });
      if (kept !== undefined) kept.push('');
    } else {
      valid++;
      kept?.push(text);
    }
  }
  if (invalid > 0) {
    printProblems(problems, invalid, file);
    if (flags.continueOnError !== true) {
      process.stderr.write(
        `herald: ${invalid} invalid line(s); nothing was published (--continue-on-error publishes the valid ones)\n`,
      );
      return EXIT.usage;
    }
  }
  let failed = 0;
  let firstFailure: Error | undefined;
  const client = clientFor(flags, {
    maxBatchEvents: flags.batchSize ?? 1000,
    // Well under the broker's default --max-request-size of 16 MiB.
    maxBatchBytes: 4 * 1024 * 1024,
    maxInFlight: 4,
    onError: (error) => {
      failed++;
      firstFailure ??= error;
    },
  });
  const bar = new ProgressBar(valid, 'events');
  let enqueued = 0;
  let shown = 0;
  const show = () => {
    const settled = enqueued - client.buffered;
    bar.tick(settled - shown);
    shown = settled;
  };
  const progress = setInterval(show, 100);
  try {
    const lines =
      kept === undefined
        ? ndjsonLines(openInput(file))
        : (async function* () {
            for (const text of kept) if (text !== '') yield { line: 0, text };
          })();
    for await (const { text } of lines) {
      // Without --continue-on-error the first refusal stops the rest of the file from being sent.
      if (firstFailure !== undefined && flags.continueOnError !== true) break;
      const checked = checkLine(text);
      if ('reason' in checked) continue;
      await client.enqueue(checked.event);
      enqueued++;
    }
    await client.flush().catch((error: unknown) => {
      if (!(error instanceof PublishError)) throw error;
    });
  } finally {
    clearInterval(progress);
  }
  show();
  bar.finish();
  if (firstFailure !== undefined) reportError(firstFailure);
  print(formatOf(flags), { published: enqueued - failed, invalid, failed }, [
    { header: 'PUBLISHED', value: (r) => r.published },
    { header: 'INVALID', value: (r) => r.invalid },
    { header: 'FAILED', value: (r) => r.failed },
  ]);
  return failed > 0 || invalid > 0 ? EXIT.refused : EXIT.done;
}
