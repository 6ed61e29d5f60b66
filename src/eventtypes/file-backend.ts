import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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

/** The file system calls the backend makes; tests slow them down. */
export interface EventTypeFileSystem {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, text: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const nodeFileSystem: EventTypeFileSystem = { readFile, writeFile, rename, mkdir };

/**
 * The standalone backend: seen types in `<data-dir>/eventtypes.json` (rewritten whole, atomically),
 * declarations from `--event-types-file`.
 *
 * @remarks The file is read and written with asynchronous calls, one write at a time, so that the
 * event loop (and every publish) never waits for the disk; the registry's length and count bounds
 * keep what one write serialises small.
 */
export class FileEventTypeBackend implements EventTypeBackend {
  readonly paced = false;
  private readonly path: string;
  private readonly all = new Map<string, SeenEventType>();

  /** The last write (settled or not): the next one starts after it, so two never overlap. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly declared: readonly DeclaredEventType[],
    private readonly fs: EventTypeFileSystem = nodeFileSystem,
  ) {
    this.path = join(dataDir, 'eventtypes.json');
  }

  async start(receiver: BackendReceiver): Promise<void> {
    this.declared.forEach((declared, index) => receiver.declare(`file/${index}`, declared));
    let text: string | undefined;
    try {
      text = await this.fs.readFile(this.path, 'utf8');
    } catch {
      text = undefined; // first start
    }
    if (text === undefined) return;
    const parsed = seenFileSchema.safeParse(parseJson(text));
    if (parsed.success) {
      // Only what the registry kept: pairs over its bounds leave the file at the next write.
      for (const seen of receiver.restore(parsed.data.eventTypes)) {
        this.all.set(typeKey(seen.type, seen.source), seen);
      }
      return;
    }
    // Cut short (it is replaced by a rename without an fsync, so a power loss can leave it empty or
    // partial) or not ours: thrown, it failed every start for ever and nothing was persisted again;
    // overwritten, what it held would be gone. Set aside for a person to look at, and start afresh.
    const aside = `${this.path}.unreadable`;
    await this.fs.rename(this.path, aside);
    receiver.unreadable(
      `${this.path} is unreadable; set aside as ${aside}, the counts it held are not restored`,
    );
  }

  write(types: readonly SeenEventType[]): Promise<void> {
    for (const seen of types) this.all.set(typeKey(seen.type, seen.source), seen);
    const written = this.writing.catch(() => undefined).then(() => this.writeFile());
    this.writing = written;
    return written;
  }

  private async writeFile(): Promise<void> {
    await this.fs.mkdir(this.dataDir, { recursive: true });
    const temporary = `${this.path}.tmp`;
    await this.fs.writeFile(temporary, JSON.stringify({ eventTypes: [...this.all.values()] }));
    await this.fs.rename(temporary, this.path);
  }

  stop(): void {}
}
