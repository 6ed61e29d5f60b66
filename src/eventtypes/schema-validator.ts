import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Options, ValidateFunction } from 'ajv';
import { HeraldError } from '../errors/index.js';
import { linearRegExp } from './linear-regexp.js';

/** Why a declared schema is not used (the label of `herald_event_type_schema_errors_total`). */
export type SchemaProblem = 'invalid' | 'recursive';

/** A declared schema that cannot be used to validate; the registry logs it and does not enforce it. */
export class UnusableSchemaError extends HeraldError {
  constructor(
    readonly problem: SchemaProblem,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super('HERALD_INVALID_CONFIG', detail, options);
  }
}

/**
 * One value of each JSON type. A schema that overflows the stack on one of them refers to itself
 * without descending into the data (`{"$ref":"#"}`, `{"allOf":[{"$ref":"#"}]}`, `{"not":{"$ref":"#"}}`):
 * it can never evaluate such data. Recursion that only some shapes reach is caught per event instead.
 */
const PROBES: readonly unknown[] = [null, true, 0, 0.5, '', [], {}];

/** True for the error V8 throws when the stack overflows (a recursion that does not descend). */
export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError;
}

// strict: false — user schemas often carry annotations (examples, x-…) Ajv does not know.
// code.regExp — patterns run on RE2 (linear time), never on V8's backtracking engine.
const OPTIONS = { strict: false, allErrors: false, code: { regExp: linearRegExp } } satisfies Options;

/**
 * JSON Schema validators for declared event types, compiled once per schema version (the same
 * schema text compiles once however many types or reloads use it).
 */
export class SchemaValidators {
  private draft07: Ajv | undefined;
  private draft2020: Ajv2020 | undefined;
  private readonly compiled = new Map<
    string,
    { validate: ValidateFunction; ajv: Ajv | Ajv2020; schema: Record<string, unknown> }
  >();
  /** Compilations done (tests show that a schema version compiles once). */
  compilations = 0;

  /** Compiles (or reuses) a validator; throws UnusableSchemaError with the reason for an unusable schema. */
  validator(schema: Record<string, unknown>): ValidateFunction {
    const text = JSON.stringify(schema);
    const version = createHash('sha256').update(text).digest('hex');
    const cached = this.compiled.get(version);
    if (cached !== undefined) return cached.validate;
    const is2020 = typeof schema['$schema'] === 'string' && schema['$schema'].includes('2020-12');
    const ajv = is2020 ? (this.draft2020 ??= new Ajv2020(OPTIONS)) : (this.draft07 ??= new Ajv(OPTIONS));
    const own = JSON.parse(text) as Record<string, unknown>;
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(own);
    } catch (error) {
      ajv.removeSchema(own);
      throw new UnusableSchemaError('invalid', (error as Error).message, { cause: error });
    }
    for (const probe of PROBES) {
      try {
        validate(probe);
      } catch (error) {
        ajv.removeSchema(own);
        throw isStackOverflow(error)
          ? new UnusableSchemaError(
              'recursive',
              `the schema refers to itself without descending into the data (it overflows the stack on ${JSON.stringify(probe)})`,
              { cause: error },
            )
          : new UnusableSchemaError('invalid', (error as Error).message, { cause: error });
      }
    }
    this.compilations++;
    this.compiled.set(version, { validate, ajv, schema: own });
    return validate;
  }

  /** Forgets compiled versions no declaration uses any more. */
  retain(schemas: Iterable<Record<string, unknown>>): void {
    const live = new Set<string>();
    for (const schema of schemas) live.add(createHash('sha256').update(JSON.stringify(schema)).digest('hex'));
    for (const [version, entry] of this.compiled) {
      if (live.has(version)) continue;
      entry.ajv.removeSchema(entry.schema); // Ajv caches every compiled schema too
      this.compiled.delete(version);
    }
  }
}
