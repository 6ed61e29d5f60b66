// SPDX-License-Identifier: Apache-2.0
import { CesqlParseError, compile } from '../cesql/index.js';
import type { CesqlErrorKind, CesqlValue, EventAttributes } from '../cesql/index.js';

const USAGE = 'usage: herald cesql eval --expression E [--event JSON]';

const HELP = `${USAGE}

Evaluates a CloudEvents SQL (CESQL v1) expression and prints one JSON line:
  {"value": <boolean|integer|string|null>, "error": null|"parse"|"math"|"cast"|"missingFunction"|"functionEvaluation"|"missingAttribute"|"generic"}

  --expression E   the expression
  --event JSON     a CloudEvent in structured JSON format; its members other than data and
                   data_base64 are the attributes (default: a minimal event with specversion,
                   id, source and type)

Exit status: 0 when the expression was evaluated (whatever its error), 2 on bad usage.

Examples:
  $ herald cesql eval --expression "1 + 2"
  $ herald cesql eval --expression "type LIKE 'com.example.%'" --event '{"specversion":"1.0","id":"1","source":"/s","type":"com.example.x"}'`;

/** The event used when `--event` is absent: only the required attributes. */
const defaultEvent: EventAttributes = Object.freeze({
  specversion: '1.0',
  id: 'herald-cesql-eval',
  source: '/herald/cli',
  type: 'dev.herald.cesql.eval',
});

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * `herald cesql …`: `args` are the arguments after `cesql`. Prints exactly one JSON line on `out`
 * when it evaluated (exit 0, also for parse and evaluation errors, whose message goes to `err`), or
 * one line on `err` and exit 2 on bad usage.
 *
 * @example
 * ```ts
 * await runCesqlCommand(['eval', '--expression', "type LIKE 'com.%'"], console.log, console.error);
 * // prints {"value": false, "error": null}
 * ```
 */
export async function runCesqlCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    out(HELP);
    return 0;
  }
  let expression: string;
  let event: EventAttributes;
  try {
    if (subcommand !== 'eval') {
      throw new UsageError(
        subcommand === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(subcommand)}`,
      );
    }
    const flags = parseFlags(rest);
    if (flags === 'help') {
      out(HELP);
      return 0;
    }
    if (flags.expression === undefined) throw new UsageError('missing --expression');
    expression = flags.expression;
    event = flags.event === undefined ? defaultEvent : attributesOf(flags.event);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`herald cesql: ${error.message} (${USAGE})`);
    return 2;
  }

  let value: CesqlValue | null;
  let kind: CesqlErrorKind | null = null;
  try {
    const result = compile(expression).evaluate(event);
    value = result.value;
    const [first] = result.errors;
    if (first !== undefined) {
      kind = first.kind;
      const where =
        first.position === undefined
          ? ''
          : ` at line ${first.position.line}, column ${first.position.column}`;
      err(`herald cesql: ${first.kind} error${where}: ${first.message}`);
    }
  } catch (error) {
    if (!(error instanceof CesqlParseError)) throw error;
    value = null;
    kind = 'parse';
    err(`herald cesql: parse error: ${error.message}`);
  }
  out(`{"value": ${JSON.stringify(value)}, "error": ${JSON.stringify(kind)}}`);
  return 0;
}

function parseFlags(args: readonly string[]): { expression?: string; event?: string } | 'help' {
  const flags: { expression?: string; event?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--help' || arg === '-h') return 'help';
    const equals = arg.indexOf('=');
    const name = equals >= 0 ? arg.slice(0, equals) : arg;
    if (name !== '--expression' && name !== '--event') {
      throw new UsageError(
        arg.startsWith('-')
          ? `unknown flag ${JSON.stringify(name)}`
          : `unexpected argument ${JSON.stringify(arg)}`,
      );
    }
    let value: string | undefined;
    if (equals >= 0) {
      value = arg.slice(equals + 1);
    } else {
      value = args[i + 1];
      i++;
    }
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    const key = name === '--expression' ? 'expression' : 'event';
    if (flags[key] !== undefined) throw new UsageError(`${name} given twice`);
    flags[key] = value;
  }
  return flags;
}

/** The context attributes of a structured-mode JSON event: every member except the data ones. */
function attributesOf(json: string): EventAttributes {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new UsageError(`--event is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('--event must be a JSON object (a CloudEvent in structured JSON format)');
  }
  const attributes: Array<[string, string | number | boolean]> = [];
  for (const [name, value] of Object.entries(parsed)) {
    // A null member is an absent attribute in the JSON format.
    if (name === 'data' || name === 'data_base64' || value === null) continue;
    if (
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && (value | 0) === value)
    ) {
      attributes.push([name, value]);
    } else {
      throw new UsageError(
        `--event attribute ${JSON.stringify(name)} must be a string, a boolean or a 32-bit integer`,
      );
    }
  }
  // fromEntries defines own properties, so a member named __proto__ stays a plain attribute.
  return Object.fromEntries(attributes);
}
