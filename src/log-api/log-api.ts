import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { eventToJson, isTimestamp } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { HeraldError, quoted } from '../errors/index.js';
import { sendJsonText } from '../http/index.js';
import type { Router } from '../http/index.js';
import type { EventStore, StoredEvent } from '../store/index.js';
import { Admission } from '../limits/index.js';
import { drained, ReaderDeadline, writeChunk } from '../http/index.js';

/**
 * JSON of events recently written to a reader. Every live stream reads the same new events (the store
 * hands out the same objects for its recent tail), so each is serialised once, not once per stream.
 */
const jsonCache = new WeakMap<CloudEvent, string>();

function jsonOf(event: CloudEvent): string {
  let json = jsonCache.get(event);
  if (json === undefined) {
    json = eventToJson(event);
    jsonCache.set(event, json);
  }
  return json;
}

/** The `data:` value of events recently written to a stream, when it differs from their JSON. */
const sseDataCache = new WeakMap<CloudEvent, string>();

/**
 * An event's JSON as the value of its SSE message's `data:` field. JSON data is kept as its producer
 * sent it, and JSON allows CR and LF as whitespace between tokens: in an SSE stream each would end the
 * line (an empty line, the message), cutting the event short and making a reader skip it. Each line of
 * the JSON gets a `data:` field of its own instead; the reader joins them with LF, the same JSON value.
 */
function sseDataOf(event: CloudEvent): string {
  let data = sseDataCache.get(event);
  if (data === undefined) {
    const json = jsonOf(event);
    data = /[\r\n]/.test(json) ? json.replace(/\r\n|\r|\n/g, '\ndata: ') : json;
    sseDataCache.set(event, data);
  }
  return data;
}

/** A compiled `filter=`: whether an event matches, and the string work that decision took. */
export interface LogFilter {
  matches(event: CloudEvent): boolean;
  /** Characters of string work the last `matches` did. */
  lastCost(): number;
}

/** Compiles a `filter=` expression; throws a coded 400 when it is not acceptable. */
export type EventFilterCompiler = (expression: string) => LogFilter;

/** How much one page (or one stream slice) may do before it answers with what it has. */
export interface LogReadBounds {
  /** Filter work plus bytes of JSON written. */
  readonly maxWork: number;
  /** Wall-clock milliseconds. */
  readonly maxTimeMs: number;
}

export interface LogApiOptions {
  readonly store: EventStore;
  readonly compileFilter: EventFilterCompiler;
  readonly bounds: LogReadBounds;
  /** Called when a page or slice is cut short by a bound (named as its flag). */
  readonly onBounded?: (limit: 'log-read-max-work' | 'log-read-max-time') => void;
  /**
   * Most `GET /events` pages being read at once (`--max-log-reads`): each holds at most one chunk
   * and one event of the broker's memory while its reader takes it, so this bounds them all.
   */
  readonly maxPageReads?: number;
  /** Of those, most for one client (`--max-log-reads-per-client`), keyed by `clientKey`. */
  readonly maxPageReadsPerClient?: number;
  /** The key a client's page reads are counted under (its principal, else its address). */
  readonly clientKey?: (req: IncomingMessage) => string;
  /** How long a reader may leave written data untaken before its response is destroyed (`--log-write-timeout`). */
  readonly writeTimeoutMs?: number;
  /** Called when a page is refused (`max-log-reads`) or a response destroyed (`log-write-timeout`). */
  readonly onLimit?: (limit: 'max-log-reads' | 'max-log-reads-per-client' | 'log-write-timeout') => void;
  /** Admits a new stream (or throws a coded 429/503); returns the function that releases it. */
  readonly admitStream?: (req: IncomingMessage) => () => void;
  /** Aborted when the broker shuts down, which ends every open stream. */
  readonly shutdown: AbortSignal;
  readonly heartbeatMs?: number;
  /**
   * The credential of a stream's request: a stream outlives the checks its request passed, so it ends
   * when the credential expires and when a re-check every {@link streamRecheckMs} refuses it.
   */
  readonly streamAccess?: (req: IncomingMessage) => StreamAccess;
  /** How often an open stream's credential is checked again (`--stream-auth-recheck`). */
  readonly streamRecheckMs?: number;
  /** Called when a stream is ended because its credential expired or was refused on a re-check. */
  readonly onStreamAccessEnded?: (reason: 'expired' | 'revoked') => void;
}

/** What a stream needs to know about its request's credential (access control provides it). */
export interface StreamAccess {
  /** Epoch milliseconds at which the credential expires; undefined when it does not expire. */
  readonly expiresAt: number | undefined;
  /** Authenticates and authorizes the request again under the credentials and rules in force now. */
  stillAllowed(): Promise<boolean>;
}

const MAX_LIMIT = 1000;
/** How many events one filtered page may scan before answering with what it found. */
const MAX_SCAN = 10_000;
/** Events read from the store at a time: small, since one event may be up to --max-event-size. */
const READ_PAGE = 64;
/** Bytes of a page or of Server-Sent Events written before waiting for the reader to take them. */
const WRITE_CHUNK = 64 * 1024;
/** `--max-log-reads` and `--log-write-timeout` defaults (for callers that do not set them). */
export const DEFAULT_MAX_PAGE_READS = 64;
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
/** `--stream-auth-recheck` default. */
export const DEFAULT_STREAM_RECHECK_MS = 30_000;
/** Node's longest timer; a later expiry is armed again when this one fires. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Work and time spent on one page or slice. A page stops at whichever bound comes first and answers
 * with `next`, so one request can neither stall the event loop nor build an unbounded answer.
 */
class Slice {
  private work = 0;
  private started = performance.now();
  bound: 'log-read-max-work' | 'log-read-max-time' | undefined;

  constructor(private readonly bounds: LogReadBounds) {}

  spend(units: number): void {
    this.work += units;
  }

  /** Time spent waiting for the reader is not the broker's work: it does not count against the time bound. */
  async waitingFor<T>(wait: Promise<T>): Promise<T> {
    const waitStarted = performance.now();
    try {
      return await wait;
    } finally {
      this.started += performance.now() - waitStarted;
    }
  }

  /** True when the slice must end; remembers which bound ended it. */
  exhausted(): boolean {
    if (this.work >= this.bounds.maxWork) this.bound = 'log-read-max-work';
    else if (performance.now() - this.started >= this.bounds.maxTimeMs) this.bound = 'log-read-max-time';
    return this.bound !== undefined;
  }
}

/** `raw` as an integer from `min` to `max`; a 400 naming `what` (and `pointer`) otherwise. */
function integerIn(raw: string, min: number, max: number, what: string, pointer: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new HeraldError(
      'HERALD_INVALID_QUERY',
      `${what} must be an integer from ${min} to ${max}, got ${quoted(raw)}`,
      { pointer },
    );
  }
  return Number(raw);
}

function integerParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  return integerIn(raw, min, max, `query parameter '${name}'`, `?${name}`);
}

/**
 * `from=`: a sequence, or an RFC 3339 time meaning the first event stored at or after it (the same
 * rule as a subscription's `startAt: {time}`), so that `herald tail --from TIME` needs no scan.
 * `Date.parse` alone is lenient: it rolls 2026-02-30 over to 2 March and reads a time without an offset
 * in the machine's zone, so a mistyped time would start somewhere else instead of being refused.
 */
async function fromParam(url: URL, store: EventStore, fallback: number): Promise<number> {
  const raw = url.searchParams.get('from');
  if (raw !== null && /^\d{4}-\d\d-\d\d[Tt]/.test(raw)) {
    const time = isTimestamp(raw) ? Date.parse(raw) : Number.NaN;
    if (Number.isNaN(time)) {
      throw new HeraldError('HERALD_INVALID_QUERY', `query parameter 'from' is not a valid RFC 3339 time`, {
        pointer: '?from',
      });
    }
    return store.sequenceAt(time);
  }
  return integerParam(url, 'from', fallback, 0, Number.MAX_SAFE_INTEGER);
}

function filterParam(url: URL, compileFilter: EventFilterCompiler): LogFilter | undefined {
  const expression = url.searchParams.get('filter');
  return expression === null || expression === '' ? undefined : compileFilter(expression);
}

/** `GET /events` (pages of the log) and `GET /events/stream` (Server-Sent Events live tail). */
export function registerLogApi(router: Router, options: LogApiOptions): void {
  const { store, compileFilter } = options;

  const maxPageReads = options.maxPageReads ?? DEFAULT_MAX_PAGE_READS;
  const writeTimeoutMs = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
  const deadlineFor = (res: ServerResponse) =>
    new ReaderDeadline(res, writeTimeoutMs, () => options.onLimit?.('log-write-timeout'));
  // One listener on the broker's shutdown signal for all readers (one each would pass Node's
  // listener warning threshold at the eleventh reader); each reader gets a signal of its own.
  const readers = new Set<AbortController>();
  options.shutdown.addEventListener('abort', () => readers.forEach((reader) => reader.abort()), {
    once: true,
  });
  /** Aborted when the broker shuts down; forgotten when the response closes. */
  const readerSignal = (res: ServerResponse): AbortController => {
    const reader = new AbortController();
    if (options.shutdown.aborted) reader.abort();
    readers.add(reader);
    res.once('close', () => readers.delete(reader));
    return reader;
  };
  const pages = new Admission(maxPageReads, options.maxPageReadsPerClient ?? Number.POSITIVE_INFINITY);
  /**
   * Takes a page slot until the response is finished or closed, or throws: 429 when this client holds
   * its share (a reader that takes a little now and then keeps its slot), 503 when none is free.
   */
  const admitPage = (req: IncomingMessage, res: ServerResponse): void => {
    const client = options.clientKey?.(req) ?? '';
    const refused = pages.tryAdmit(client);
    if (refused === 'key') {
      options.onLimit?.('max-log-reads-per-client');
      throw new HeraldError(
        'HERALD_TOO_MANY_LOG_READS',
        'this client is reading as many GET /events pages at once as --max-log-reads-per-client allows',
        { retryAfter: 1 },
      );
    }
    if (refused === 'total') {
      options.onLimit?.('max-log-reads');
      throw new HeraldError(
        'HERALD_LOG_READ_CAPACITY',
        `the broker serves as many GET /events pages at once as --max-log-reads allows (${maxPageReads})`,
        { retryAfter: 1 },
      );
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      pages.release(client);
    };
    res.once('finish', release);
    res.once('close', release);
  };

  router.on('GET', '/events', async (req, res, _params, url) => {
    const from = await fromParam(url, store, 1);
    const limit = integerParam(url, 'limit', 100, 1, MAX_LIMIT);
    const filter = filterParam(url, compileFilter);
    admitPage(req, res);
    const slice = new Slice(options.bounds);
    const page = new PageWriter(res, deadlineFor(res), readerSignal(res).signal);
    page.add('{"events":[');
    let next = from;
    let scanned = 0;
    let found = 0;
    let readCount = READ_PAGE;
    /**
     * Reads events from `next` and adds them to the page, writing each chunk as it fills, for as long as
     * the reader takes each chunk at once. Says what the page waits for next: the reader, a further
     * read, or nothing (it is complete, or gone). The events it read are dropped when it returns, so a
     * reader that is not taking what was written holds one chunk and one event, not a store read's worth
     * of events; they are read again once it took the chunk.
     */
    const addSome = async (): Promise<'reader' | 'more' | 'done' | 'gone'> => {
      const read = await store.read(
        next,
        Math.min(readCount, filter === undefined ? limit - found : MAX_SCAN - scanned),
      );
      if (read.length === 0) return 'done';
      let used = 0;
      for (const stored of read) {
        // Checked before each event, so a page always makes progress by at least one event.
        if (scanned > 0 && slice.exhausted()) return 'done';
        next = stored.sequence + 1;
        scanned++;
        used++;
        if (filter !== undefined) {
          const matches = filter.matches(stored.event);
          slice.spend(filter.lastCost() + 1);
          if (!matches) continue;
        }
        const part = `${found === 0 ? '' : ','}{"sequence":${stored.sequence},"event":${jsonOf(stored.event)}}`;
        slice.spend(part.length);
        found++;
        if (page.add(part)) {
          const written = page.send();
          if (written === 'closed') return 'gone';
          if (written === 'waiting') {
            // As many as filled that chunk next time: events of a chunk's size are read one at a time.
            readCount = used;
            return found === limit ? 'done' : 'reader';
          }
        }
        if (found === limit) return 'done';
      }
      readCount = Math.min(READ_PAGE, readCount * 2);
      return 'more';
    };
    while (found < limit && scanned < MAX_SCAN) {
      const waitFor = await addSome();
      if (waitFor === 'gone') return;
      if (waitFor === 'done') break;
      // Written a chunk at a time, each after the reader took the last: a reader that stops reading
      // holds one chunk (and one event) of the broker's memory, not a whole page.
      if (waitFor === 'reader' && !(await slice.waitingFor(page.drained()))) return;
    }
    if (slice.bound !== undefined) options.onBounded?.(slice.bound);
    if (found === 0 && next === from) next = Math.max(from, (await store.stats()).first);
    page.end(`],"next":${next}}`);
  });

  router.on('GET', '/events/stream', async (req, res, _params, url) => {
    const filter = filterParam(url, compileFilter);
    const lastEventId = req.headers['last-event-id'];
    let next: number;
    if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) {
      // Only this stream's own ids come back here; a larger one (forged) would start the stream where no
      // sequence ever is, answered with an id that is no sequence (`1e+23`) and never an event.
      next = integerIn(lastEventId, 0, Number.MAX_SAFE_INTEGER - 1, 'Last-Event-ID', 'Last-Event-ID') + 1;
    } else if (url.searchParams.has('from')) next = await fromParam(url, store, 1);
    else next = (await store.stats()).last + 1;
    // A credential already past its expiry (accepted within the clock tolerance new requests get) would
    // open a stream only to end it at once, and an EventSource would reconnect in a loop: refused here.
    const access = options.streamAccess?.(req);
    if (access?.expiresAt !== undefined && Date.now() >= access.expiresAt) {
      throw new HeraldError(
        'HERALD_UNAUTHENTICATED',
        'this request needs a valid bearer credential (Authorization: Bearer ...)',
      );
    }
    const release = options.admitStream?.(req);
    try {
      const controller = readerSignal(res);
      const guard = access === undefined ? undefined : new StreamAccessGuard(access, controller, options);
      try {
        await streamEvents(req, res, store, next, filter, options, deadlineFor(res), controller, guard);
      } finally {
        guard?.stop();
      }
    } finally {
      release?.();
    }
  });
}

/**
 * Ends a stream when its credential does: at its expiry, and when a periodic re-check (a reloaded tokens
 * file, a changed policy) refuses it. Each end is counted once, by reason.
 */
class StreamAccessGuard {
  /** Why the stream was ended, once it was. */
  ended: 'expired' | 'revoked' | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly recheckTimer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly access: StreamAccess,
    private readonly controller: AbortController,
    private readonly options: LogApiOptions,
  ) {
    this.armExpiry();
    this.recheckTimer = setInterval(
      () => void this.recheck(),
      options.streamRecheckMs ?? DEFAULT_STREAM_RECHECK_MS,
    );
  }

  /**
   * True (and the stream ended) once the credential has expired. Asked before each write, so no event
   * is written after the expiry even when the expiry timer fires late on a busy event loop.
   */
  expired(): boolean {
    const { expiresAt } = this.access;
    if (expiresAt !== undefined && Date.now() >= expiresAt) this.end('expired');
    return this.ended !== undefined;
  }

  stop(): void {
    clearTimeout(this.expiryTimer);
    clearInterval(this.recheckTimer);
  }

  private armExpiry(): void {
    const { expiresAt } = this.access;
    if (expiresAt === undefined) return;
    this.expiryTimer = setTimeout(
      () => {
        if (!this.expired()) this.armExpiry();
      },
      Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMER_MS),
    );
  }

  private async recheck(): Promise<void> {
    // A slow TokenReview must not pile up re-checks of one stream.
    if (this.checking || this.ended !== undefined) return;
    this.checking = true;
    try {
      if (!(await this.access.stillAllowed())) this.end('revoked');
    } catch {
      this.end('revoked');
    } finally {
      this.checking = false;
    }
  }

  private end(reason: 'expired' | 'revoked'): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.stop();
    this.options.onStreamAccessEnded?.(reason);
    this.controller.abort();
  }
}

async function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  store: EventStore,
  from: number,
  filter: LogFilter | undefined,
  options: LogApiOptions,
  deadline: ReaderDeadline,
  controller: AbortController,
  access: StreamAccessGuard | undefined,
): Promise<void> {
  const stop = () => controller.abort();
  req.on('close', stop);
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // An `id:` without data sets the reader's last event id (SSE §9.2.6) without an event: a client
  // that reconnects before any event arrived resumes from where this stream started, not from "now".
  res.write(`: herald event stream\nid: ${Math.max(0, from - 1)}\n\n`);
  // A reader that is not taking what was written gets no heartbeat on top (its buffer stays bounded)
  // and, once --log-write-timeout passes, loses the stream.
  const heartbeat = setInterval(() => {
    if (res.writableNeedDrain) return;
    res.write(': keep-alive\n\n');
    deadline.watch();
  }, options.heartbeatMs ?? 15_000);
  let next = from;
  let readCount = READ_PAGE;
  /**
   * Reads events from `next` and writes them, a chunk at a time, for as long as the reader takes each
   * chunk at once. Says what the stream waits for next: a new event, the reader, or nothing (its end).
   * The events it read are dropped when it returns: a reader that is not taking what was written holds
   * the chunk being written, not the rest of a store read (up to {@link READ_PAGE} events of up to
   * `--max-event-size` each); they are read again once it took the chunk.
   */
  const writeSome = async (): Promise<'append' | 'reader' | 'more' | 'end'> => {
    const page: StoredEvent[] = await store.read(next, readCount);
    if (page.length === 0) return 'append';
    // A slice of filter work per turn of the event loop; the rest waits for the next turn.
    const slice = new Slice(options.bounds);
    let chunk = '';
    let used = 0;
    try {
      for (const stored of page) {
        if (slice.exhausted()) break;
        next = stored.sequence + 1;
        used++;
        if (filter !== undefined) {
          const matches = filter.matches(stored.event);
          slice.spend(filter.lastCost() + 1);
          if (!matches) continue;
        }
        const message = `id: ${stored.sequence}\nevent: cloudevent\ndata: ${sseDataOf(stored.event)}\n\n`;
        slice.spend(message.length);
        chunk += message;
        if (chunk.length >= WRITE_CHUNK) {
          if (access?.expired()) return 'end';
          const written = writeChunk(res, chunk);
          chunk = '';
          if (written === 'closed') return 'end';
          if (written === 'waiting') {
            // As many as filled that chunk next time: events of a chunk's size are read one at a time.
            readCount = used;
            return 'reader';
          }
        }
      }
    } finally {
      if (slice.bound !== undefined) options.onBounded?.(slice.bound);
    }
    // Every event read was stored before this check: none stored after the expiry is written.
    if (access?.expired()) return 'end';
    readCount = Math.min(READ_PAGE, readCount * 2);
    const written = chunk === '' ? 'taken' : writeChunk(res, chunk);
    return written === 'closed' ? 'end' : written === 'taken' ? 'more' : 'reader';
  };
  try {
    while (!controller.signal.aborted) {
      // Each stream works in its own turn of the event loop: woken together by one append, many
      // streams would otherwise filter and serialise in one uninterrupted run.
      await yieldToEventLoop();
      if (controller.signal.aborted) break;
      const waitFor = await writeSome();
      if (waitFor === 'end') break;
      if (waitFor === 'append') await store.waitForAppend(next - 1, controller.signal);
      else if (waitFor === 'reader' && !(await drained(res, deadline, controller.signal))) break;
    }
  } finally {
    clearInterval(heartbeat);
    req.off('close', stop);
    // Says why, for a reader that looks; reconnecting with the same credential gets the 401 or 403.
    if (access?.ended !== undefined && !res.writableNeedDrain) {
      res.write(
        `: stream ended: the credential ${access.ended === 'expired' ? 'expired' : 'is no longer accepted'}\n\n`,
      );
    }
    res.end();
  }
}

/**
 * A `GET /events` page written as it is built. A page that fits in one chunk is answered with a
 * Content-Length as before; a larger one is sent chunked, a chunk at a time, each once the reader
 * took the previous one.
 */
class PageWriter {
  private buffered = '';
  private streaming = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly deadline: ReaderDeadline,
    private readonly shutdown: AbortSignal,
  ) {}

  /** Adds text to the page; true when a chunk is ready for {@link flush}. */
  add(text: string): boolean {
    this.buffered += text;
    return this.buffered.length >= WRITE_CHUNK;
  }

  /**
   * Writes the chunk without waiting: `waiting` when the reader has to take it first ({@link drained}),
   * `closed` (and the response destroyed) when the response is gone or the broker stops.
   */
  send(): 'taken' | 'waiting' | 'closed' {
    if (!this.streaming) {
      this.res.writeHead(200, { 'content-type': 'application/json' });
      this.streaming = true;
    }
    const text = this.buffered;
    this.buffered = '';
    const written = this.shutdown.aborted ? 'closed' : writeChunk(this.res, text);
    if (written === 'closed') this.res.destroy();
    return written;
  }

  /** Waits for the reader to take what was sent; false (and the response destroyed) when it is gone or the broker stops. */
  async drained(): Promise<boolean> {
    const open = await drained(this.res, this.deadline, this.shutdown);
    if (open && !this.shutdown.aborted) return true;
    this.res.destroy();
    return false;
  }

  end(text: string): void {
    if (this.streaming) this.res.end(this.buffered + text);
    else sendJsonText(this.res, 200, this.buffered + text);
    this.buffered = '';
    this.deadline.watch();
  }
}
