// SPDX-License-Identifier: Apache-2.0
// Runs every case of the official CESQL conformance TCK (vendored in test/conformance/cesql/*.yaml).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CesqlParseError, compile } from './index.js';
import type { CesqlErrorKind, CompileOptions, EventAttributes } from './index.js';

// Vendored from cloudevents/spec with its licence (test/conformance/README.md): the repository stands alone.
const tckDirectory = fileURLToPath(new URL('../../test/conformance/cesql/', import.meta.url));

const errorKinds: readonly string[] = [
  'parse',
  'math',
  'cast',
  'missingFunction',
  'functionEvaluation',
  'missingAttribute',
  'generic',
] satisfies CesqlErrorKind[];

/**
 * The event behind `eventOverrides`. It must lack every attribute the TCK expects to be missing
 * (`missing`, `myext`, `subject`, …), so it holds only required and a few common optional ones.
 */
const baseEvent: EventAttributes = {
  specversion: '1.0',
  id: 'tck-base-event',
  source: 'http://example.com/source',
  type: 'com.example.tck',
  time: '2020-03-21T12:34:56.78Z',
  datacontenttype: 'application/json',
  dataschema: 'http://example.com/schema',
};

/**
 * Cases where Herald follows the spec rather than the TCK file, with the spec's expectation.
 * `NOT 10`: CESQL v1 §3.7 makes Integer → Boolean a supported cast (non-zero is true), so the
 * result is `false` without error; the TCK file predates that rule (see README.md).
 */
const specOverrides: ReadonlyMap<string, { tck: TckCase; spec: { result: boolean; error?: string } }> =
  new Map([
    [
      'not_operator.yaml/Invalid int cast',
      {
        tck: { name: 'Invalid int cast', expression: 'NOT 10', result: true, error: 'cast' },
        spec: { result: false },
      },
    ],
  ]);

interface TckCase {
  name: string;
  expression: string;
  result?: boolean | number | string;
  error?: string;
  event?: Record<string, unknown>;
  eventOverrides?: Record<string, unknown>;
}

function loadSuite(file: string): { name: string; tests: TckCase[] } {
  // YAML 1.2 core schema: unquoted timestamps stay strings; `TRUE` and `0` become a boolean and a
  // number, so expressions are turned back into text below.
  const document: unknown = parseYaml(readFileSync(`${tckDirectory}${file}`, 'utf8'), { schema: 'core' });
  if (!isRecord(document) || typeof document.name !== 'string' || !Array.isArray(document.tests)) {
    throw new Error(`${file}: not a TCK suite (needs name and tests)`);
  }
  const tests = document.tests.map((raw: unknown, index): TckCase => {
    if (!isRecord(raw) || !isScalar(raw.name)) throw new Error(`${file}: test ${index} has no name`);
    // Names such as `TRUE` load as YAML booleans too.
    const name = String(raw.name);
    const { expression, result, error, event, eventOverrides } = raw;
    if (!isScalar(expression)) {
      throw new Error(`${file}: '${name}' has no expression`);
    }
    if (result !== undefined && !isScalar(result)) {
      throw new Error(`${file}: '${name}' has a result that is not a CESQL value`);
    }
    if (error !== undefined && (typeof error !== 'string' || !errorKinds.includes(error))) {
      throw new Error(`${file}: '${name}' expects an unknown error kind ${String(error)}`);
    }
    if (
      (event !== undefined && !isRecord(event)) ||
      (eventOverrides !== undefined && !isRecord(eventOverrides))
    ) {
      throw new Error(`${file}: '${name}' has an event that is not a mapping`);
    }
    return {
      name,
      expression: String(expression),
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error }),
      ...(event === undefined ? {} : { event }),
      ...(eventOverrides === undefined ? {} : { eventOverrides }),
    };
  });
  return { name: document.name, tests };
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function attributesOf(test: TckCase): EventAttributes {
  const source = test.event ?? { ...baseEvent, ...test.eventOverrides };
  const attributes: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === 'data' || key === 'data_base64') continue;
    if (!isScalar(value)) {
      throw new Error(`'${test.name}': attribute ${key} is not a string, integer or boolean`);
    }
    attributes[key] = value;
  }
  return attributes;
}

/** The broker's default cost bounds and evaluation budget (`--filter-*`): the TCK passes within them too. */
const brokerDefaults: CompileOptions = {
  limits: { maxNodes: 512, maxLikePatterns: 32, maxCallDepth: 8 },
  budget: 1_000_000,
};

function runCase(
  test: TckCase,
  expected: { result?: boolean | number | string; error?: string },
  options: CompileOptions = {},
): void {
  if (expected.error === 'parse') {
    expect(() => compile(test.expression, options)).toThrow(CesqlParseError);
    return;
  }
  const { value, errors } = compile(test.expression, options).evaluate(attributesOf(test));
  if (expected.result !== undefined) expect(value).toStrictEqual(expected.result);
  if (expected.error === undefined) expect(errors).toEqual([]);
  else expect(errors.map((e) => e.kind)).toContain(expected.error);
}

if (!existsSync(tckDirectory)) {
  throw new Error(
    `CESQL TCK not found at ${tckDirectory} (vendored in the repository: is the clone complete?)`,
  );
}
const files = readdirSync(tckDirectory)
  .filter((file) => file.endsWith('.yaml'))
  .sort();

describe('CESQL TCK', () => {
  it('is present', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
  });

  for (const file of files) {
    const suite = loadSuite(file);
    describe(`${file}: ${suite.name}`, () => {
      for (const test of suite.tests) {
        const override = specOverrides.get(`${file}/${test.name}`);
        if (override === undefined) {
          it(test.name, () => {
            runCase(test, test);
            runCase(test, test, brokerDefaults);
          });
        } else {
          it(`${test.name} (spec behaviour, differs from the TCK file)`, () => {
            // If the TCK file changes, the override must be revisited rather than silently kept.
            expect(test).toStrictEqual(override.tck);
            runCase(test, override.spec);
          });
        }
      }
    });
  }
});
