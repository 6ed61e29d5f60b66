// SPDX-License-Identifier: Apache-2.0
import type { CloudEvent as SdkCloudEvent } from 'cloudevents';
import type { Connection } from './http.js';
import { HeraldConnectionError, isHeraldProblemError, problemOf } from './http.js';
import type { StructuredEvent } from './events.js';
import { toSdkEvent } from './events.js';

/** Where a tail starts: the log's first retained event, the next new one, a sequence, or a time. */
export type TailStart = 'earliest' | 'latest' | number | Date | string;

export interface TailOptions {
  /** Default `latest`. A string other than `earliest`/`latest` is an RFC 3339 time. */
  readonly from?: TailStart;
  /** A CESQL expression; only events for which it is TRUE are sent. */
  readonly filter?: string;
  /** Ends the iteration (the loop simply finishes). */
  readonly signal?: AbortSignal;
  /** First wait before reconnecting, in ms (default 250); doubles up to `maxReconnectDelayMs`. */
  readonly reconnectDelayMs?: number;
  /** Longest wait between reconnects, in ms (default 5,000). */
  readonly maxReconnectDelayMs?: number;
  /**
   * How long an open stream may stay silent before it is taken for dead and the tail reconnects, in ms
   * (default {@link DEFAULT_IDLE_TIMEOUT_MS}; `0`: for ever). The broker writes a heartbeat every 15 s on
   * an idle stream, so only a dead connection (a frozen broker, a flow dropped by a NAT or load balancer
   * without a reset, a half-open TCP connection) is silent for longer; without a limit, a tail on one
   * waits for ever while events are published. Counted only while the tail waits for the network, not
   * while the loop's body works on an event.
   */
  readonly idleTimeoutMs?: number;
  /** Called each time the broker accepted the stream (the first time, and after every reconnect). */
  readonly onConnect?: () => void;
  /**
   * Called before each reconnect (e.g. to tell a user); what it throws ends the iteration with that error
   * (e.g. to give up on a broker that was never reached).
   */
  readonly onReconnect?: (attempt: number, error: Error | undefined) => void;
}

/** One event of the log, with its sequence. */
export interface TailedEvent {
  readonly sequence: number;
  /** The official SDK's `CloudEvent`. */
  readonly event: SdkCloudEvent<unknown>;
  /** The same event as a plain object in the JSON event format. */
  readonly json: StructuredEvent;
}

/** Three of the broker's 15 s heartbeats: a late one or two on a busy broker is not a dead stream. */
export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

function fromQuery(from: TailStart | undefined): string | undefined {
  if (from === undefined || from === 'latest') return undefined;
  if (from === 'earliest') return '0';
  if (typeof from === 'number') {
    if (!Number.isSafeInteger(from) || from < 0)
      throw new RangeError(`from must be a sequence >= 0, got ${from}`);
    return String(from);
  }
  if (from instanceof Date) return from.toISOString();
  if (/^\d+$/.test(from)) return from;
  if (Number.isNaN(Date.parse(from)) || !/^\d{4}-\d\d-\d\dT/.test(from)) {
    throw new RangeError(
      `from must be earliest, latest, a sequence or an RFC 3339 time, got ${JSON.stringify(from)}`,
    );
  }
  return from;
}

interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string | undefined;
}

/**
 * The chunks of a response body; `onIdle` is called when none arrived for `idleMs` (0: never) while
 * waiting for one. The time the consumer spends between two chunks is not counted: a slow loop body is
 * not a silent broker.
 */
async function* chunksOf(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  onIdle: () => void,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const timer = idleMs === 0 ? undefined : setTimeout(onIdle, idleMs);
      const result = await reader.read().finally(() => clearTimeout(timer));
      if (result.done) return;
      yield result.value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Splits a Server-Sent Events text stream into messages (WHATWG HTML §9.2.6). */
async function* sseMessages(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
      if (match === null) break;
      const block = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      yield { id, event, data: data.length === 0 ? undefined : data.join('\n') };
    }
  }
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Follows `GET /events/stream`. When the connection drops or the broker restarts, it reconnects with
 * `Last-Event-ID` set to the last sequence it saw, so that no event is lost or repeated; so it does
 * when the stream stays silent past `idleTimeoutMs` (a connection that died without an end). A refusal
 * (4xx, e.g. an invalid filter or a missing permission) ends the iteration with that problem.
 */
export async function* tailEvents(
  connection: Connection,
  options: TailOptions = {},
): AsyncGenerator<TailedEvent> {
  const from = fromQuery(options.from);
  const { signal } = options;
  const baseDelay = Math.max(1, options.reconnectDelayMs ?? 250);
  const maxDelay = Math.max(baseDelay, options.maxReconnectDelayMs ?? 5_000);
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!Number.isSafeInteger(idleMs) || idleMs < 0) {
    throw new RangeError(`idleTimeoutMs must be a whole number of ms >= 0, got ${idleMs}`);
  }
  let lastId: string | undefined;
  let failures = 0;
  // A function, not a narrowed property read: the signal changes while we await.
  const aborted = () => signal?.aborted === true;
  while (!aborted()) {
    let failure: Error | undefined;
    let idle = false;
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const response = await connection.send('GET', '/events/stream', {
        headers: {
          accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'last-event-id': lastId }),
        },
        query: { from: lastId === undefined ? from : undefined, filter: options.filter },
        signal: controller.signal,
      });
      if (!response.ok) {
        const problem = await problemOf(response);
        if (response.status < 500 && response.status !== 429) throw problem;
        failure = problem;
      } else if (response.body !== null) {
        options.onConnect?.();
        // Silence past the limit aborts the request, which ends the read below with an AbortError.
        const chunks = chunksOf(response.body, idleMs, () => {
          idle = true;
          controller.abort();
        });
        for await (const message of sseMessages(chunks)) {
          if (message.id !== undefined && /^\d+$/.test(message.id)) lastId = message.id;
          if (message.data === undefined) continue;
          failures = 0;
          const json = JSON.parse(message.data) as StructuredEvent;
          yield { sequence: Number(message.id), event: toSdkEvent(json), json };
        }
      }
    } catch (error) {
      if (aborted()) return;
      if (isHeraldProblemError(error)) throw error;
      failure = error as Error;
    } finally {
      signal?.removeEventListener('abort', abort);
      controller.abort();
    }
    if (aborted()) return;
    // Said as such, whether the aborted read rejected or ended: the reason a user is told.
    if (idle) failure = new HeraldConnectionError(connection.url, new Error(`no data within ${idleMs} ms`));
    failures++;
    options.onReconnect?.(failures, failure);
    await sleep(Math.min(maxDelay, baseDelay * 2 ** Math.min(failures - 1, 16)), signal);
  }
}
