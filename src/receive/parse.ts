// SPDX-License-Identifier: Apache-2.0
import type { IncomingMessage } from 'node:http';
import { CloudEvent as SdkCloudEvent } from 'cloudevents';
import {
  detectMode,
  eventToJson,
  hasBinaryHeaders,
  parseBatch,
  parseBinary,
  parseStructured,
} from '../cloudevents/index.js';
import type { CloudEvent as HeraldEvent, ContentMode } from '../cloudevents/index.js';
import { isHeraldError } from '../errors/index.js';

/** A request already read by a framework: its headers and its raw body bytes. */
export interface RawDelivery {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>> | Headers;
  readonly body: Uint8Array | string;
}

/** Anything a delivery can be read from: node:http (and Express), a Web `Request` (Hono, …), or raw parts. */
export type DeliverySource = IncomingMessage | Request | RawDelivery;

/** One delivery from a Herald broker, decoded. */
export interface Delivery {
  readonly mode: ContentMode;
  /** The events as the official SDK's `CloudEvent` objects (one, or several in batch mode). */
  readonly events: ReadonlyArray<SdkCloudEvent<unknown>>;
  /** The same events as plain objects in the JSON event format. */
  readonly json: ReadonlyArray<Record<string, unknown>>;
  /** `Herald-Subscription`: the subscription this delivery is for. */
  readonly subscription: string | undefined;
  /** `Herald-Sequence`: the log sequence of the (first) event. */
  readonly sequence: number | undefined;
  /** `Herald-Attempt`: 1 for the first attempt, then 2, 3, … on retries. */
  readonly attempt: number | undefined;
  /** `Herald-Batch-Size`: how many events a batch carries (batch mode only, a batch of one too). */
  readonly batchSize: number | undefined;
}

/** A delivery that cannot be decoded: what to answer (400, or 413 when too large) and why. */
export class MalformedDeliveryError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, reason: string) {
    super(reason);
    this.name = 'MalformedDeliveryError';
    this.status = status;
    this.code = code;
  }
}

export interface ParseOptions {
  /** Largest body read, in bytes (default 16 MiB); a larger one is refused with 413. */
  readonly maxBodyBytes?: number;
}

function isWebRequest(source: DeliverySource): source is Request {
  return typeof Request !== 'undefined' && source instanceof Request;
}

function isIncomingMessage(source: DeliverySource): source is IncomingMessage {
  return (
    typeof (source as IncomingMessage).on === 'function' &&
    Array.isArray((source as IncomingMessage).rawHeaders)
  );
}

/** Headers as Node's flat raw list: a repeated `ce-` header must stay visible to be refused. */
function rawHeaderList(headers: RawDelivery['headers']): string[] {
  const raw: string[] = [];
  if (headers instanceof Headers) {
    headers.forEach((value, name) => raw.push(name, value));
    return raw;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (typeof value === 'string') raw.push(name, value);
    else for (const item of value) raw.push(name, item);
  }
  return raw;
}

function headerOf(raw: readonly string[], wanted: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === wanted) return raw[i + 1];
  }
  return undefined;
}

async function readStream(stream: AsyncIterable<unknown>, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += buffer.byteLength;
    if (size > limit)
      throw new MalformedDeliveryError(413, 'HERALD_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}

/** The headers and the body bytes of any supported source. */
async function partsOf(source: DeliverySource, limit: number): Promise<{ raw: string[]; body: Uint8Array }> {
  if (isWebRequest(source)) {
    const raw = rawHeaderList(source.headers);
    const body = source.body === null ? new Uint8Array() : await readStream(source.body, limit);
    return { raw, body };
  }
  if (isIncomingMessage(source)) {
    // Express with express.raw() or text(), or a framework that kept the bytes, has read the stream already.
    const kept = (source as IncomingMessage & { body?: unknown }).body;
    if (kept instanceof Uint8Array || typeof kept === 'string') {
      return { raw: [...source.rawHeaders], body: typeof kept === 'string' ? Buffer.from(kept) : kept };
    }
    if (kept !== undefined && source.readableEnded) {
      throw new MalformedDeliveryError(
        400,
        'HERALD_INVALID_REQUEST',
        'the body was already parsed by another middleware; mount the receiver without a JSON body parser',
      );
    }
    return { raw: [...source.rawHeaders], body: await readStream(source, limit) };
  }
  const body = typeof source.body === 'string' ? Buffer.from(source.body) : source.body;
  if (body.byteLength > limit) {
    throw new MalformedDeliveryError(413, 'HERALD_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`);
  }
  return { raw: rawHeaderList(source.headers), body };
}

function integerHeader(raw: readonly string[], name: string): number | undefined {
  const value = headerOf(raw, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) {
    throw new MalformedDeliveryError(
      400,
      'HERALD_INVALID_REQUEST',
      `${name} must be a whole number, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value.trim());
}

/**
 * Decodes a delivery in binary, structured or batch mode (header values percent-decoded, every event
 * validated as the broker validates). Throws `MalformedDeliveryError` for anything else.
 */
export async function parseDelivery(source: DeliverySource, options: ParseOptions = {}): Promise<Delivery> {
  const limit = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const { raw, body } = await partsOf(source, limit);
  const contentType = headerOf(raw, 'content-type');
  const mode = detectMode(contentType);
  let events: HeraldEvent[];
  try {
    if (mode === 'batch') events = parseBatch(contentType as string, body);
    else if (mode === 'structured') events = [parseStructured(contentType as string, body)];
    else if (hasBinaryHeaders(raw)) events = [parseBinary(raw, contentType, body)];
    else {
      throw new MalformedDeliveryError(
        400,
        'HERALD_UNSUPPORTED_MEDIA_TYPE',
        `not a CloudEvent: no ce-* headers and content-type ${JSON.stringify(contentType ?? null)}`,
      );
    }
  } catch (error) {
    if (isHeraldError(error)) throw new MalformedDeliveryError(400, error.code, error.message);
    throw error;
  }
  const json = events.map((event) => JSON.parse(eventToJson(event)) as Record<string, unknown>);
  return {
    mode,
    events: json.map((event) => new SdkCloudEvent<unknown>(event, false)),
    json,
    subscription: headerOf(raw, 'herald-subscription'),
    sequence: integerHeader(raw, 'herald-sequence'),
    attempt: integerHeader(raw, 'herald-attempt'),
    batchSize: integerHeader(raw, 'herald-batch-size'),
  };
}
