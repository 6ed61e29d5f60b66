import type { ValidateFunction } from 'ajv';
import { DataKind } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { HeraldError } from '../errors/index.js';
import type { IngressHook } from '../ingress/index.js';
import { TokenBucket } from '../limits/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import { isStackOverflow, SchemaValidators, UnusableSchemaError } from './schema-validator.js';
import type {
  BackendReceiver,
  DeclaredEventType,
  EventTypeBackend,
  EventTypeView,
  SeenEventType,
} from './types.js';
import { PairMap } from './pair-map.js';
import { typeKey } from './types.js';

export interface EventTypeRegistryOptions {
  readonly backend: EventTypeBackend;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** Most distinct (type, source) pairs kept (`--event-types-max`). */
  readonly max: number;
  /**
   * Longest `type` or `source` registered, in characters (`--event-types-max-length`); a pair with a
   * longer one is counted, not registered. With `max` it bounds the registry's memory, its file (or
   * resources) and `GET /eventtypes`.
   */
  readonly maxLength?: number;
  /** Backend writes per second when the backend is paced (`--event-types-rate`). */
  readonly rate: number;
  /** How often seen types are written; a type's later sightings are written at most this often. */
  readonly flushIntervalMs?: number;
  /** The clock that paces writes (milliseconds); injected by tests. */
  readonly now?: () => number;
}

interface Declaration {
  readonly declared: DeclaredEventType;
  readonly validate: ValidateFunction | undefined;
}

/** `--event-types-max-length` default: far above real CloudEvents types and source URIs. */
export const DEFAULT_MAX_TYPE_LENGTH = 1024;

const utf8 = new TextDecoder();
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * The event type registry: which (type, source) pairs were published, and which types are declared
 * (with a description and a JSON Schema). It is an ingress hook: `accepted` records sightings in
 * memory (a map lookup per event, bounded by `max`) and everything slow — writing EventType resources
 * or the file — happens later on a timer, paced by `rate`, so a publish never waits for it and never
 * fails because of it. `check` rejects data that violates an enforced schema.
 */
export class EventTypeRegistry implements IngressHook, BackendReceiver {
  private readonly seen = new PairMap<SeenEventType>();
  /** Seen types not yet written (first sightings) and written types seen again since. */
  private readonly unwritten = new Set<SeenEventType>();
  private readonly changed = new Set<SeenEventType>();
  private readonly declarations = new Map<string, Declaration>();
  /** Enforced declarations by `type\0source`, and by type for declarations without a source. */
  private readonly enforcedExact = new PairMap<ValidateFunction>();
  private readonly enforcedByType = new Map<string, ValidateFunction>();
  readonly validators = new SchemaValidators();
  /** Schema versions that overflowed the stack on some event: warned once each. */
  private readonly warnedOverflow = new WeakSet<ValidateFunction>();
  private readonly bucket: TokenBucket;
  private warnedFull = false;
  private warnedTooLong = false;
  private readonly maxLength: number;
  private failing = false;
  private backendStarted = false;
  private flushing = false;
  /** The tick under way, so that `stop` can wait for a write in flight before the last one. */
  private ticking: Promise<void> | undefined;
  private lastChangedFlush = 0;
  private retryAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushIntervalMs: number;
  private markDeclarationsRead: () => void = () => undefined;
  /** Resolves once `declarationsRead` (the broker waits for it, bounded, before it listens). */
  readonly whenDeclarationsRead = new Promise<void>((resolve) => (this.markDeclarationsRead = resolve));

  constructor(private readonly options: EventTypeRegistryOptions) {
    this.bucket = new TokenBucket(options.rate, Math.max(1, Math.ceil(options.rate)), options.now);
    this.flushIntervalMs = options.flushIntervalMs ?? 10_000;
    this.maxLength = options.maxLength ?? DEFAULT_MAX_TYPE_LENGTH;
  }

  /** Starts the backend (retried in the background while it fails) and the write timer. */
  start(): void {
    if (this.declarationsRead) this.markDeclarationsRead();
    this.timer = setInterval(() => void this.runTick(), 250);
    this.timer.unref();
    void this.runTick();
  }

  /** Stops writing; an unpaced backend (the file) gets what is pending first. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.ticking;
    if (!this.options.backend.paced && this.backendStarted && !this.flushing) {
      this.lastChangedFlush = 0;
      await this.flush().catch(() => undefined);
    }
    this.options.backend.stop();
  }

  // --- ingress hook ---------------------------------------------------------------------------

  check(events: readonly CloudEvent[]): void {
    // Which types enforce a schema is unknown until the declarations are read: accepting the events as
    // if none did would store what an enforced schema refuses, for as long as the list is refused.
    if (!this.declarationsRead) {
      throw new HeraldError(
        'HERALD_NOT_READY',
        'the broker has not read its declared event types (and the schemas they enforce) yet; retry',
        { retryAfter: 1 },
      );
    }
    if (this.enforcedExact.size === 0 && this.enforcedByType.size === 0) return;
    events.forEach((event, index) => {
      const type = event.attributes['type'] as string;
      const validate =
        this.enforcedExact.get(type, event.attributes['source'] as string) ?? this.enforcedByType.get(type);
      if (validate === undefined) return;
      const error = this.violation(validate, event, type);
      if (error !== undefined) throw events.length > 1 ? error.atIndex(index) : error;
    });
  }

  private violation(validate: ValidateFunction, event: CloudEvent, type: string): HeraldError | undefined {
    if (event.dataKind !== DataKind.Json || event.data === undefined) {
      return new HeraldError(
        'HERALD_SCHEMA_VIOLATION',
        `events of type '${type}' must carry JSON data matching its declared schema`,
        { pointer: '/data' },
      );
    }
    let valid: boolean;
    try {
      valid = validate(JSON.parse(utf8.decode(event.data)));
    } catch (error) {
      if (!isStackOverflow(error)) throw error;
      return this.overflow(validate, type);
    }
    if (valid) return undefined;
    const first = validate.errors?.[0];
    const at = first?.instancePath ?? '';
    return new HeraldError(
      'HERALD_SCHEMA_VIOLATION',
      `data${at === '' ? '' : ` at ${at}`} ${first?.message ?? 'does not match'} (schema of type '${type}', ${first?.schemaPath ?? '#'})`,
      { pointer: `/data${at}` },
    );
  }

  /**
   * A schema that reaches itself without descending into the data only for some shapes (the probes at
   * declaration catch the others): refused, not a retryable 500 that clients repeat for ever, and the
   * schema stays enforced — turning it off would let any publisher switch validation off with such data.
   * The overflow is paid by the requests that send such data only (a batch stops at its first refusal).
   */
  private overflow(validate: ValidateFunction, type: string): HeraldError {
    this.options.metrics.eventTypeSchemaErrors.inc({ reason: 'overflow' });
    if (!this.warnedOverflow.has(validate)) {
      this.warnedOverflow.add(validate);
      this.options.logger.warn(
        { eventType: type },
        `the declared JSON Schema of type '${type}' refers to itself without descending into some data: such events are refused (herald_event_type_schema_errors_total{reason="overflow"}); fix the schema`,
      );
    }
    return new HeraldError(
      'HERALD_SCHEMA_VIOLATION',
      `data cannot be evaluated by the schema of type '${type}': the schema refers to itself without descending into this data`,
      { pointer: '/data' },
    );
  }

  accepted(events: readonly CloudEvent[]): void {
    const now = Date.now();
    let dropped = 0;
    let tooLong = 0;
    let previous: SeenEventType | undefined;
    for (const event of events) {
      const type = event.attributes['type'] as string;
      const source = event.attributes['source'] as string;
      // A batch mostly repeats one pair, and its strings are fresh from JSON.parse: comparing them with
      // the previous event's pair is cheaper than hashing them for the map (bench/PROFILE.md, sixth round).
      if (previous !== undefined && previous.type === type && previous.source === source) {
        previous.count++;
        continue;
      }
      // Before the lookup: a pair this long is never registered, and hashing it would cost its length.
      if (type.length > this.maxLength || source.length > this.maxLength) {
        tooLong++;
        continue;
      }
      const known = this.seen.get(type, source);
      if (known !== undefined) {
        known.count++;
        known.lastSeen = now;
        if (!this.unwritten.has(known)) this.changed.add(known);
        previous = known;
        continue;
      }
      if (this.seen.size >= this.options.max) {
        dropped++;
        continue;
      }
      const seen = { type, source, firstSeen: now, lastSeen: now, count: 1 };
      this.seen.set(type, source, seen);
      this.unwritten.add(seen);
      previous = seen;
      this.options.metrics.eventTypes.set(this.seen.size);
    }
    if (dropped > 0) this.full(dropped);
    if (tooLong > 0) this.tooLong(tooLong);
  }

  private tooLong(dropped: number): void {
    this.options.metrics.eventTypesDropped.inc({ reason: 'too-long' }, dropped);
    if (this.warnedTooLong) return;
    this.warnedTooLong = true;
    this.options.logger.warn(
      { maxLength: this.maxLength },
      'an event type or source is longer than --event-types-max-length: such pairs are counted in herald_event_types_dropped_total{reason="too-long"} and not registered',
    );
  }

  private full(dropped: number): void {
    this.options.metrics.eventTypesDropped.inc({ reason: 'limit' }, dropped);
    if (this.warnedFull) return;
    this.warnedFull = true;
    this.options.logger.warn(
      { max: this.options.max },
      'the event type registry is full (--event-types-max): new event types are counted in herald_event_types_dropped_total and not registered',
    );
  }

  // --- backend receiver -----------------------------------------------------------------------

  restore(types: readonly SeenEventType[]): SeenEventType[] {
    const kept: SeenEventType[] = [];
    for (const restored of types) {
      // Persisted by a run with a larger bound (or before there was one).
      if (restored.type.length > this.maxLength || restored.source.length > this.maxLength) {
        this.tooLong(1);
        continue;
      }
      const known = this.seen.get(restored.type, restored.source);
      if (known !== undefined) {
        known.count += restored.count;
        known.firstSeen = Math.min(known.firstSeen, restored.firstSeen);
        known.lastSeen = Math.max(known.lastSeen, restored.lastSeen);
        kept.push(restored);
        continue;
      }
      if (this.seen.size >= this.options.max) {
        this.full(1);
        continue;
      }
      this.seen.set(restored.type, restored.source, { ...restored });
      kept.push(restored);
    }
    this.options.metrics.eventTypes.set(this.seen.size);
    return kept;
  }

  unreadable(detail: string): void {
    this.options.logger.warn(`event type registry: ${detail}`);
  }

  declare(key: string, declared: DeclaredEventType | undefined): void {
    if (declared === undefined && !this.declarations.has(key)) return;
    // The same declaration again (a Kubernetes status write is an update event): nothing changes, and an
    // unusable schema is not compiled, probed and logged once more.
    const current = this.declarations.get(key);
    if (declared !== undefined && current !== undefined && sameDeclaration(current.declared, declared))
      return;
    if (declared === undefined) this.declarations.delete(key);
    else {
      let validate: ValidateFunction | undefined;
      if (declared.schema !== undefined && declared.validation === 'enforce') {
        try {
          validate = this.validators.validator(declared.schema);
        } catch (error) {
          this.unusable(declared.type, error);
        }
      }
      this.declarations.set(key, { declared, validate });
    }
    this.enforcedExact.clear();
    this.enforcedByType.clear();
    for (const { declared: d, validate } of this.declarations.values()) {
      if (validate === undefined) continue;
      if (d.source === undefined) this.enforcedByType.set(d.type, validate);
      else this.enforcedExact.set(d.type, d.source, validate);
    }
    this.validators.retain(
      [...this.declarations.values()].flatMap(({ declared: d, validate }) =>
        validate !== undefined && d.schema !== undefined ? [d.schema] : [],
      ),
    );
  }

  private unusable(type: string, error: unknown): void {
    const problem = error instanceof UnusableSchemaError ? error.problem : 'invalid';
    this.options.metrics.eventTypeSchemaErrors.inc({ reason: problem });
    this.options.logger.warn(
      { eventType: type, code: 'HERALD_INVALID_CONFIG', err: error },
      problem === 'recursive'
        ? `the declared JSON Schema of type '${type}' refers to itself without descending into the data; the type is not validated`
        : `the declared JSON Schema of type '${type}' cannot be used (it does not compile, or a pattern is not RE2 syntax); the type is not validated`,
    );
  }

  // --- read side ------------------------------------------------------------------------------

  /**
   * `GET /eventtypes`: seen pairs with the declaration that governs them, then declarations with a
   * source never seen, then declarations for every source (with the totals of the sources they cover).
   */
  list(): EventTypeView[] {
    const exact = new Map<string, DeclaredEventType>();
    const byType: DeclaredEventType[] = [];
    for (const { declared } of this.declarations.values()) {
      if (declared.source === undefined) byType.push(declared);
      else exact.set(typeKey(declared.type, declared.source), declared);
    }
    const typeWide = new Map(byType.map((declared) => [declared.type, declared]));
    const views: EventTypeView[] = [];
    for (const seen of this.seen.values()) {
      const key = typeKey(seen.type, seen.source);
      // A seen pair shows the declaration that governs it: its own, else its type's.
      const declared = exact.get(key) ?? typeWide.get(seen.type);
      exact.delete(key);
      views.push(view(declared ?? { type: seen.type }, seen, seen.source));
    }
    for (const declared of exact.values()) views.push(view(declared, undefined, declared.source));
    for (const declared of byType) {
      // A declaration for every source is listed once, with the totals of the sources it covers.
      let total: SeenEventType | undefined;
      for (const seen of this.seen.values()) {
        if (seen.type !== declared.type) continue;
        total =
          total === undefined
            ? { ...seen }
            : {
                ...total,
                count: total.count + seen.count,
                firstSeen: Math.min(total.firstSeen, seen.firstSeen),
                lastSeen: Math.max(total.lastSeen, seen.lastSeen),
              };
      }
      views.push(view(declared, total, undefined));
    }
    return views;
  }

  get size(): number {
    return this.seen.size;
  }

  /** False until the backend's declarations are known (publishes answer 503, `/readyz` is not ready). */
  get declarationsRead(): boolean {
    return this.options.backend.declarationsRead !== false;
  }

  // --- writes ---------------------------------------------------------------------------------

  private runTick(): Promise<void> {
    if (this.flushing) return this.ticking ?? Promise.resolve();
    this.ticking = this.tick();
    return this.ticking;
  }

  private async tick(): Promise<void> {
    if (this.flushing || Date.now() < this.retryAt) return;
    this.flushing = true;
    try {
      if (!this.backendStarted) {
        await this.options.backend.start(this);
        this.backendStarted = true;
      }
      await this.flush();
      if (this.failing) this.options.logger.info('event type registry: writing again');
      this.failing = false;
    } catch (error) {
      this.options.metrics.eventTypeWrites.inc({ outcome: 'error' });
      // One warning per outage; the retries every 2 s log at debug level.
      if (this.failing) this.options.logger.debug({ err: error }, 'event type registry: still failing');
      else
        this.options.logger.warn(
          { err: error },
          this.declarationsRead
            ? 'event type registry: the backing store failed; publishes are unaffected, writes are retried'
            : 'event type registry: the declared event types cannot be read yet; publishes answer 503 until they are, retried every 2 s',
        );
      this.failing = true;
      this.retryAt = Date.now() + 2_000;
    } finally {
      if (this.declarationsRead) this.markDeclarationsRead();
      this.flushing = false;
      this.options.metrics.eventTypeWritesPending.set(this.unwritten.size + this.changed.size);
    }
  }

  private async flush(): Promise<void> {
    const { backend } = this.options;
    const due = Date.now() - this.lastChangedFlush >= this.flushIntervalMs;
    const pending = [...this.unwritten, ...(due ? this.changed : [])];
    if (pending.length === 0) return;
    if (due) this.lastChangedFlush = Date.now();
    let batch = pending;
    if (backend.paced) {
      let allowed = 0;
      while (allowed < pending.length && this.bucket.tryTake(1)) allowed++;
      batch = pending.slice(0, allowed);
    }
    if (batch.length === 0) return;
    const types = batch.map((seen) => ({ ...seen })); // a snapshot: counting goes on meanwhile
    await backend.write(types);
    batch.forEach((seen, i) => {
      this.unwritten.delete(seen);
      // Seen again while the write was on its way: the newer count goes with a later write.
      if (seen.count === types[i]?.count) this.changed.delete(seen);
      else this.changed.add(seen);
    });
    this.options.metrics.eventTypeWrites.inc({ outcome: 'ok' }, types.length);
  }
}

function sameDeclaration(a: DeclaredEventType, b: DeclaredEventType): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function view(
  declared: DeclaredEventType,
  seen: SeenEventType | undefined,
  source: string | undefined,
): EventTypeView {
  return {
    type: declared.type,
    ...(source === undefined ? {} : { source }),
    ...(declared.description === undefined ? {} : { description: declared.description }),
    ...(declared.schema === undefined ? {} : { schema: declared.schema }),
    ...(declared.validation === undefined ? {} : { validation: declared.validation }),
    firstSeen: iso(seen?.firstSeen),
    lastSeen: iso(seen?.lastSeen),
    count: seen?.count ?? 0,
  };
}
