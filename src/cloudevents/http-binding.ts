import { HeraldError } from '../errors/index.js';
import { encodeHeaderValue, decodeHeaderValue } from './percent-encoding.js';
import { eventFromJson, jsonTooDeep, parseJsonBody } from './json-format.js';
import {
  arrayElementsOver,
  jsonDepthExceeded,
  scanEventArray,
  scanEventObject,
  skipSpace,
} from './json-scan.js';
import type { CloudEvent } from './types.js';
import { DataKind, emptyAttributes } from './types.js';
import { isJsonMediaType, validateAttributes } from './validate.js';

export type ContentMode = 'binary' | 'structured' | 'batch';

const STRUCTURED_PREFIX = 'application/cloudevents';
const BATCH_PREFIX = 'application/cloudevents-batch';

function essence(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** HTTP binding §3: the batch prefix is checked first because it also starts with the structured one. */
export function detectMode(contentType: string | undefined): ContentMode {
  if (contentType === undefined) return 'binary';
  const lower = contentType.trimStart().toLowerCase();
  if (lower.startsWith(BATCH_PREFIX)) return 'batch';
  if (lower.startsWith(STRUCTURED_PREFIX)) return 'structured';
  return 'binary';
}

function unsupportedFormat(contentType: string, expected: string): HeraldError {
  return new HeraldError(
    'HERALD_UNSUPPORTED_MEDIA_TYPE',
    `event format '${essence(contentType)}' is not supported; use ${expected}`,
  );
}

/**
 * A JSON body without its UTF-8 byte order mark, which the parse ignores (RFC 8259 §8.1 allows it): the
 * scans that run before the parse must see the text the parse reads. They stopped at the BOM, and a
 * batch that started with one skipped the `--max-batch-events` count that comes before the parse.
 */
function withoutByteOrderMark(body: Uint8Array): Uint8Array {
  return body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? body.subarray(3) : body;
}

/**
 * One structured-mode event. With `maxDepth`, the pass that finds its `data` member applies
 * `--max-json-depth` too, before the body is parsed (as for batches).
 */
export function parseStructured(contentType: string, sent: Uint8Array, maxDepth = Infinity): CloudEvent {
  if (essence(contentType) !== 'application/cloudevents+json') {
    throw unsupportedFormat(contentType, 'application/cloudevents+json');
  }
  const body = withoutByteOrderMark(sent);
  const scanned = scanEventObject(body, skipSpace(body, 0), maxDepth);
  if (scanned !== undefined && 'tooDeepAt' in scanned) throw jsonTooDeep(maxDepth, scanned.tooDeepAt);
  if (scanned === undefined) checkDepth(body, maxDepth);
  return eventFromJson(parseJsonBody(body), body, scanned);
}

/** `jsonDepthExceeded` as a refusal, for a body the event scans could not walk (not an object, or array). */
function checkDepth(body: Uint8Array, maxDepth: number): void {
  if (maxDepth === Infinity) return;
  const at = jsonDepthExceeded(body, maxDepth);
  if (at >= 0) throw jsonTooDeep(maxDepth, at);
}

/** The refusal of a batch of more than `max` events (`--max-batch-events`). */
export function tooManyEvents(max: number, detail: string): HeraldError {
  return new HeraldError(
    'HERALD_TOO_MANY_EVENTS',
    `the batch carries more than ${max} events (${detail}); see --max-batch-events`,
  );
}

/**
 * A batch of events. `maxDepth` is `--max-json-depth`; `maxEvents` (`--max-batch-events`) is counted in
 * the scan that runs before the body is parsed, so a batch over it costs no parse and no validation.
 */
export function parseBatch(
  contentType: string,
  sent: Uint8Array,
  maxDepth = Infinity,
  maxEvents = Infinity,
): CloudEvent[] {
  if (essence(contentType) !== 'application/cloudevents-batch+json') {
    throw unsupportedFormat(contentType, 'application/cloudevents-batch+json');
  }
  const body = withoutByteOrderMark(sent);
  // One pass over the body, before it is parsed, applies the depth limit and finds every element's data
  // member, so JSON data is kept as sent instead of serialised again from the parsed value (~0.2 µs less
  // per event than a depth pass and a serialisation, bench/PROFILE.md, seventh round).
  const scanned = scanEventArray(body, maxDepth, maxEvents);
  if (scanned !== undefined && 'tooDeepAt' in scanned) throw jsonTooDeep(maxDepth, scanned.tooDeepAt);
  if (scanned !== undefined && 'tooManyAt' in scanned) {
    throw tooManyEvents(maxEvents, `event ${maxEvents} starts at byte ${scanned.tooManyAt}`);
  }
  if (scanned === undefined) {
    checkDepth(body, maxDepth);
    // Counted before the parse too: an element that is not an object stops the event scan, and the
    // parse of a body of tens of thousands of elements would hold the event loop for a second or more.
    const over = arrayElementsOver(body, maxEvents);
    if (over >= 0) throw tooManyEvents(maxEvents, `event ${maxEvents} starts after byte ${over}`);
  }
  const parsed = parseJsonBody(body);
  if (!Array.isArray(parsed)) {
    throw new HeraldError('HERALD_INVALID_BATCH', 'a JSON batch must be an array of CloudEvents', {
      pointer: '',
    });
  }
  // A batch the scan could not walk (an element that is not an object) is counted once parsed, still
  // before any element is validated.
  if (parsed.length > maxEvents) throw tooManyEvents(maxEvents, `it has ${parsed.length}`);
  const elements = scanned?.length === parsed.length ? scanned : undefined;
  return parsed.map((item: unknown, index) => {
    try {
      const element = elements?.[index];
      return element === undefined ? eventFromJson(item) : eventFromJson(item, body, element.spans);
    } catch (error) {
      throw error instanceof HeraldError ? error.atIndex(index) : error;
    }
  });
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
/**
 * Keeps a leading byte order mark as U+FEFF, which JSON.parse refuses: JSON data is kept as the bytes
 * sent and spliced into structured and batch deliveries as they are, so a body the default decoder read
 * as JSON only after dropping its BOM made `"data":\uFEFF{…}`, which no sink can parse (and a batch
 * delivery carrying it failed for every event in it). Such a body is kept as bytes (data_base64).
 */
const utf8StrictKeepingBom = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isTextMediaType(contentType: string): boolean {
  const e = essence(contentType);
  return (
    e.startsWith('text/') ||
    e.endsWith('/xml') ||
    e.endsWith('+xml') ||
    e === 'application/x-www-form-urlencoded'
  );
}

/** How binary-mode body bytes are kept: JSON when they parse as the declared JSON, text when UTF-8 text. */
function classifyBinaryData(contentType: string | undefined, body: Uint8Array): DataKind {
  if (body.byteLength === 0) return DataKind.None;
  if (contentType === undefined) return DataKind.Binary;
  if (isJsonMediaType(contentType)) {
    try {
      JSON.parse(utf8StrictKeepingBom.decode(body));
      return DataKind.Json;
    } catch {
      return DataKind.Binary;
    }
  }
  if (isTextMediaType(contentType)) {
    try {
      utf8Strict.decode(body);
      return DataKind.Text;
    } catch {
      return DataKind.Binary;
    }
  }
  return DataKind.Binary;
}

/**
 * Decodes a binary-mode message. `rawHeaders` is Node's flat `[name, value, …]` list, used instead of
 * the merged header object so that a repeated `ce-` header is caught rather than silently joined.
 */
export function parseBinary(
  rawHeaders: readonly string[],
  contentType: string | undefined,
  body: Uint8Array,
): CloudEvent {
  // No inherited members: `ce-constructor` is a valid attribute name, and `ce-__proto__` must reach name
  // validation.
  const attributes = emptyAttributes();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (!isAttributeHeader(name)) continue;
    const attribute = name.slice(3).toLowerCase();
    if (attribute === 'datacontenttype') {
      throw new HeraldError(
        'HERALD_INVALID_ATTRIBUTE',
        'binary mode carries datacontenttype in Content-Type; a ce-datacontenttype header must not be present',
        { attribute },
      );
    }
    if (attributes[attribute] !== undefined) {
      throw new HeraldError('HERALD_INVALID_ATTRIBUTE', `header ce-${attribute} appears more than once`, {
        attribute,
      });
    }
    attributes[attribute] = decodeHeaderValue(rawHeaders[i + 1] as string, attribute);
  }
  if (contentType !== undefined) attributes['datacontenttype'] = contentType;
  const validated = validateAttributes(attributes);
  const dataKind = classifyBinaryData(contentType, body);
  return { attributes: validated, data: dataKind === DataKind.None ? undefined : body, dataKind };
}

/** True for a header name that starts with `ce-` in any case (a binary-mode attribute header). */
function isAttributeHeader(name: string): boolean {
  return (
    name.length >= 3 &&
    (name.charCodeAt(0) | 0x20) === 0x63 &&
    (name.charCodeAt(1) | 0x20) === 0x65 &&
    name.charCodeAt(2) === 0x2d
  );
}

/** True when the request carries at least one `ce-` header, i.e. it claims to be binary mode. */
export function hasBinaryHeaders(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length > 3 && isAttributeHeader(name)) return true;
  }
  return false;
}

/**
 * False when `event` cannot be a binary-mode message: its datacontenttype is a CloudEvents format
 * (`application/cloudevents…`, any case). Binary mode puts datacontenttype in Content-Type, and a receiver
 * reads such a Content-Type as structured or batch mode (HTTP binding §3), so it would take the data for
 * the event — a nested event's id and type instead of this one's. Structured mode carries it faithfully.
 */
export function binaryModeCarries(event: CloudEvent): boolean {
  const contentType = event.attributes['datacontenttype'];
  return typeof contentType !== 'string' || detectMode(contentType) === 'binary';
}

/** Header name/value pairs of a binary-mode message for `event` (values percent-encoded). */
export function toBinaryHeaders(event: CloudEvent): Record<string, string> {
  const headers: Record<string, string> = {};
  const attributes = event.attributes;
  for (const name in attributes) {
    if (name === 'datacontenttype') continue;
    headers[`ce-${name}`] = encodeHeaderValue(String(attributes[name]));
  }
  const contentType = attributes['datacontenttype'];
  if (typeof contentType === 'string') headers['content-type'] = contentType;
  else if (event.dataKind === DataKind.Json) headers['content-type'] = 'application/json';
  return headers;
}
