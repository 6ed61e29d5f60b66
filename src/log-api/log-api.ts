import type { IncomingMessage, ServerResponse } from 'node:http';
import { eventToJson } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { HeraldError } from '../errors/index.js';
import { sendJsonText } from '../http/index.js';
import type { Router } from '../http/index.js';
import type { EventStore, StoredEvent } from '../store/index.js';

/** Compiles a `filter=` expression into a predicate; throws a coded 400 when it is not acceptable. */
export type EventFilterCompiler = (expression: string) => (event: CloudEvent) => boolean;

export interface LogApiOptions {
  readonly store: EventStore;
  readonly compileFilter: EventFilterCompiler;
  /** Aborted when the broker shuts down, which ends every open stream. */
  readonly shutdown: AbortSignal;
  readonly heartbeatMs?: number;
}

const MAX_LIMIT = 1000;
/** How many events one filtered page may scan before answering with what it found. */
const MAX_SCAN = 10_000;

function integerParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new HeraldError(
      'HERALD_INVALID_QUERY',
      `query parameter '${name}' must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      {
        pointer: `?${name}`,
      },
    );
  }
  return Number(raw);
}

/**
 * `from=`: a sequence, or an RFC 3339 time meaning the first event stored at or after it (the same
 * rule as a subscription's `startAt: {time}`), so that `herald tail --from TIME` needs no scan.
 */
async function fromParam(url: URL, store: EventStore, fallback: number): Promise<number> {
  const raw = url.searchParams.get('from');
  if (raw !== null && /^\d{4}-\d\d-\d\dT/.test(raw)) {
    const time = Date.parse(raw);
    if (Number.isNaN(time)) {
      throw new HeraldError('HERALD_INVALID_QUERY', `query parameter 'from' is not a valid RFC 3339 time`, {
        pointer: '?from',
      });
    }
    return store.sequenceAt(time);
  }
  return integerParam(url, 'from', fallback, 0, Number.MAX_SAFE_INTEGER);
}

function filterParam(
  url: URL,
  compileFilter: EventFilterCompiler,
): ((event: CloudEvent) => boolean) | undefined {
  const expression = url.searchParams.get('filter');
  return expression === null || expression === '' ? undefined : compileFilter(expression);
}

/** `GET /events` (pages of the log) and `GET /events/stream` (Server-Sent Events live tail). */
export function registerLogApi(router: Router, options: LogApiOptions): void {
  const { store, compileFilter } = options;

  router.on('GET', '/events', async (_req, res, _params, url) => {
    const from = await fromParam(url, store, 1);
    const limit = integerParam(url, 'limit', 100, 1, MAX_LIMIT);
    const filter = filterParam(url, compileFilter);
    const parts: string[] = [];
    let next = from;
    let scanned = 0;
    while (parts.length < limit && scanned < MAX_SCAN) {
      const page = await store.read(
        next,
        filter === undefined ? limit - parts.length : Math.min(500, MAX_SCAN - scanned),
      );
      if (page.length === 0) break;
      for (const stored of page) {
        next = stored.sequence + 1;
        scanned++;
        if (filter !== undefined && !filter(stored.event)) continue;
        parts.push(`{"sequence":${stored.sequence},"event":${eventToJson(stored.event)}}`);
        if (parts.length === limit) break;
      }
    }
    if (parts.length === 0 && next === from) next = Math.max(from, (await store.stats()).first);
    sendJsonText(res, 200, `{"events":[${parts.join(',')}],"next":${next}}`);
  });

  router.on('GET', '/events/stream', async (req, res, _params, url) => {
    const filter = filterParam(url, compileFilter);
    const lastEventId = req.headers['last-event-id'];
    let next: number;
    if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) next = Number(lastEventId) + 1;
    else if (url.searchParams.has('from')) next = await fromParam(url, store, 1);
    else next = (await store.stats()).last + 1;
    await streamEvents(req, res, store, next, filter, options);
  });
}

async function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  store: EventStore,
  from: number,
  filter: ((event: CloudEvent) => boolean) | undefined,
  options: LogApiOptions,
): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  req.on('close', stop);
  options.shutdown.addEventListener('abort', stop, { once: true });
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // An `id:` without data sets the reader's last event id (SSE §9.2.6) without an event: a client
  // that reconnects before any event arrived resumes from where this stream started, not from "now".
  res.write(`: herald event stream\nid: ${Math.max(0, from - 1)}\n\n`);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
  let next = from;
  try {
    while (!controller.signal.aborted) {
      const page: StoredEvent[] = await store.read(next, 256);
      if (page.length === 0) {
        await store.waitForAppend(next - 1, controller.signal);
        continue;
      }
      let chunk = '';
      for (const stored of page) {
        next = stored.sequence + 1;
        if (filter !== undefined && !filter(stored.event)) continue;
        chunk += `id: ${stored.sequence}\nevent: cloudevent\ndata: ${eventToJson(stored.event)}\n\n`;
      }
      if (chunk !== '' && !res.write(chunk)) {
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          controller.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    }
  } finally {
    clearInterval(heartbeat);
    req.off('close', stop);
    options.shutdown.removeEventListener('abort', stop);
    res.end();
  }
}
