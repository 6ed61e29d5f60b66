import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

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

  /** Compiles (or reuses) a validator; throws with the reason for an invalid schema. */
  validator(schema: Record<string, unknown>): ValidateFunction {
    const text = JSON.stringify(schema);
    const version = createHash('sha256').update(text).digest('hex');
    const cached = this.compiled.get(version);
    if (cached !== undefined) return cached.validate;
    const is2020 = typeof schema['$schema'] === 'string' && schema['$schema'].includes('2020-12');
    // strict: false — user schemas often carry annotations (examples, x-…) Ajv does not know.
    const ajv = is2020
      ? (this.draft2020 ??= new Ajv2020({ strict: false, allErrors: false }))
      : (this.draft07 ??= new Ajv({ strict: false, allErrors: false }));
    const own = JSON.parse(text) as Record<string, unknown>;
    const validate = ajv.compile(own);
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
