import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HeraldError } from '../errors/index.js';
import type { BackendReceiver, DeclaredEventType, EventTypeBackend, SeenEventType } from './types.js';
import { declaredEventTypeSchema, typeKey } from './types.js';

const seenFileSchema = z.object({
  eventTypes: z.array(
    z.object({
      type: z.string(),
      source: z.string(),
      firstSeen: z.number(),
      lastSeen: z.number(),
      count: z.number().int().min(0),
    }),
  ),
});

/**
 * Reads `--event-types-file`: a YAML list of declared types. Invalid files stop the broker at start-up
 * (as any invalid configuration does), naming the entry and field.
 */
export function readDeclaredEventTypes(path: string): DeclaredEventType[] {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `--event-types-file ${path}: ${(error as Error).message}`);
  }
  const result = z.array(declaredEventTypeSchema).safeParse(parsed ?? []);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--event-types-file ${path}: /${issue?.path.join('/') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

/**
 * The standalone backend: seen types in `<data-dir>/eventtypes.json` (rewritten whole, atomically),
 * declarations from `--event-types-file`.
 */
export class FileEventTypeBackend implements EventTypeBackend {
  readonly paced = false;
  private readonly path: string;
  private readonly all = new Map<string, SeenEventType>();

  constructor(
    private readonly dataDir: string,
    private readonly declared: readonly DeclaredEventType[],
  ) {
    this.path = join(dataDir, 'eventtypes.json');
  }

  start(receiver: BackendReceiver): Promise<void> {
    this.declared.forEach((declared, index) => receiver.declare(`file/${index}`, declared));
    let text: string | undefined;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      text = undefined; // first start
    }
    if (text !== undefined) {
      const parsed = seenFileSchema.safeParse(JSON.parse(text) as unknown);
      if (parsed.success) {
        for (const seen of parsed.data.eventTypes) this.all.set(typeKey(seen.type, seen.source), seen);
        receiver.restore(parsed.data.eventTypes);
      }
    }
    return Promise.resolve();
  }

  write(types: readonly SeenEventType[]): Promise<void> {
    for (const seen of types) this.all.set(typeKey(seen.type, seen.source), seen);
    mkdirSync(this.dataDir, { recursive: true });
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, JSON.stringify({ eventTypes: [...this.all.values()] }));
    renameSync(temporary, this.path);
    return Promise.resolve();
  }

  stop(): void {}
}
