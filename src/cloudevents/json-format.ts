import { HeraldError, quoted } from '../errors/index.js';
import type { EventObjectSpans } from './json-scan.js';
import type { Attributes, AttributesJson, CloudEvent } from './types.js';
import { DataKind, emptyAttributes } from './types.js';
import { isBase64, isJsonMediaType, nonIntegerSpelling, validateAttributes } from './validate.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
/**
 * Keeps a leading byte order mark as U+FEFF: Text data is rendered as a JSON string of exactly its bytes,
 * and the default decoder dropped a BOM, so a text body that started with one reached structured sinks
 * (and the log API) three bytes short of what the producer sent and binary sinks received.
 */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * A surrogate half without its pair (with the `u` flag a surrogate class matches only those). Text data
 * is kept as UTF-8 bytes, which such a half has none of: `Buffer.from` wrote U+FFFD in its place, so sinks
 * received other text than the producer sent, in binary and structured mode alike.
 */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The refusal of a JSON body nested deeper than `max` levels (`--max-json-depth`), first at byte `at`. */
export function jsonTooDeep(max: number, at: number): HeraldError {
  return new HeraldError(
    'HERALD_JSON_TOO_DEEP',
    `the JSON body nests arrays and objects deeper than ${max} levels (at byte ${at}); see --max-json-depth`,
  );
}

/** Parses a UTF-8 JSON request body; a body that is not UTF-8 or not JSON is `HERALD_MALFORMED_JSON`. */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8Strict.decode(body);
  } catch (cause) {
    throw new HeraldError('HERALD_MALFORMED_JSON', 'request body is not valid UTF-8', { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new HeraldError(
      'HERALD_MALFORMED_JSON',
      `request body is not valid JSON: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

/**
 * Decodes one event of the JSON event format (already parsed) into Herald's model. Given the `text` it
 * was parsed from and the `spans` a scan found in it (`scanEventObject`, or `scanEventArray` for a batch,
 * with `text` the whole body), JSON `data` is kept as the bytes the producer sent instead of being
 * serialised again (the same value; the producer's spacing and number spelling stay).
 */
export function eventFromJson(value: unknown, text?: Uint8Array, spans?: EventObjectSpans): CloudEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeraldError('HERALD_INVALID_EVENT', 'a CloudEvent in JSON format must be a JSON object', {
      pointer: '',
    });
  }
  const members = value as Record<string, unknown>;
  // No inherited members: a `__proto__` member must be an invalid name, not the object's prototype
  // (which would let inherited members pass validation and then vanish from the stored JSON).
  const attributes = emptyAttributes();
  // The text without its data member reads back as the attributes unless a member is left out of them.
  let textIsAttributes = text !== undefined && spans !== undefined && !spans.escapedName;
  let names = 0;
  for (const name in members) {
    names++;
    if (name === 'data') continue;
    const member = members[name];
    // JSON null means "unset" for attributes (JSON format §2).
    if (member !== null && name !== 'data_base64') attributes[name] = member;
    else textIsAttributes = false;
  }
  // A repeated name: the text holds a value the attributes do not (a sink reading the first of two
  // `type`s must not get another type than the one authorised, filtered and stored).
  if (spans !== undefined && names !== spans.members) textIsAttributes = false;
  const validated = validateAttributes(attributes);
  if (text !== undefined && spans?.nonIntegerNames !== undefined) {
    refuseNonIntegerSpellings(validated, text, spans.nonIntegerNames);
  }
  const contentType = validated['datacontenttype'] as string | undefined;
  const hasData = 'data' in members;
  const base64 = members['data_base64'];
  if (hasData && base64 !== undefined && base64 !== null) {
    throw new HeraldError('HERALD_INVALID_DATA', "'data' and 'data_base64' are mutually exclusive", {
      pointer: '/data_base64',
    });
  }
  if (base64 !== undefined && base64 !== null) {
    if (typeof base64 !== 'string' || !isBase64(base64)) {
      throw new HeraldError('HERALD_INVALID_DATA', "'data_base64' must be a Base64 (RFC 4648) string", {
        pointer: '/data_base64',
      });
    }
    return { attributes: validated, data: Buffer.from(base64, 'base64'), dataKind: DataKind.Binary };
  }
  const cut: readonly [number, number] | undefined = hasData
    ? spans?.dataMember
    : [spans?.end ?? 0, spans?.end ?? 0];
  const attributesJson =
    textIsAttributes && cut !== undefined
      ? attributesText(validated, text as Uint8Array, spans as EventObjectSpans, cut)
      : undefined;
  if (!hasData) return decoded(validated, undefined, DataKind.None, attributesJson);
  const data = members['data'];
  if (isJsonMediaType(contentType)) {
    const span = spans === undefined || spans.escapedName ? undefined : spans.data;
    const bytes =
      text === undefined || span === undefined
        ? Buffer.from(JSON.stringify(data), 'utf8')
        : text.subarray(span[0], span[1]);
    return decoded(validated, bytes, DataKind.Json, attributesJson);
  }
  if (typeof data !== 'string') {
    throw new HeraldError(
      'HERALD_INVALID_DATA',
      `'data' must be a string for the non-JSON datacontenttype ${quoted(contentType ?? '')} (use data_base64 for bytes)`,
      { pointer: '/data' },
    );
  }
  if (LONE_SURROGATE.test(data)) {
    throw new HeraldError(
      'HERALD_INVALID_DATA',
      "'data' holds a lone surrogate (an unpaired \\uD800-\\uDFFF escape), which has no UTF-8 encoding (use data_base64 for bytes)",
      { pointer: '/data' },
    );
  }
  return decoded(validated, Buffer.from(data, 'utf8'), DataKind.Text, attributesJson);
}

/**
 * Refuses an Integer attribute that the producer's text spells with a fraction or an exponent. Only a name
 * whose attribute is a number counts: `data_base64` or a repeated name whose last value is not a number
 * is refused elsewhere or not an Integer at all.
 */
function refuseNonIntegerSpellings(
  attributes: Attributes,
  text: Uint8Array,
  names: readonly (readonly [number, number])[],
): void {
  for (const [start, end] of names) {
    const name = JSON.parse(utf8.decode(text.subarray(start, end))) as string;
    if (typeof attributes[name] === 'number') throw nonIntegerSpelling(name);
  }
}

function attributesText(
  of: Attributes,
  text: Uint8Array,
  spans: EventObjectSpans,
  cut: readonly [number, number],
): AttributesJson {
  return { of, text, start: spans.start, cutStart: cut[0], cutEnd: cut[1], end: spans.end };
}

/** The event, with its attributes' text when there is one (no `attributesJson: undefined` member). */
function decoded(
  attributes: Attributes,
  data: Uint8Array | undefined,
  dataKind: DataKind,
  attributesJson: AttributesJson | undefined,
): CloudEvent {
  return attributesJson === undefined
    ? { attributes, data, dataKind }
    : { attributes, data, dataKind, attributesJson };
}

/** The `"data":…` or `"data_base64":…` member of an event's JSON rendering, or '' when there is none. */
export function dataMemberJson(event: CloudEvent): string {
  const { data, dataKind } = event;
  if (data === undefined || dataKind === DataKind.None) return '';
  if (dataKind === DataKind.Json) return `"data":${utf8.decode(data)}`;
  if (dataKind === DataKind.Text) return `"data":${JSON.stringify(utf8.decode(data))}`;
  return `"data_base64":"${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')}"`;
}

/** Renders an event in the JSON event format (structured mode). */
export function eventToJson(event: CloudEvent): string {
  return spliceData(JSON.stringify(event.attributes), dataMemberJson(event));
}

/** Appends a data member to a JSON object text, without re-parsing either. */
export function spliceData(attributesJson: string, dataMember: string): string {
  if (dataMember === '') return attributesJson;
  return attributesJson.length > 2 ? `${attributesJson.slice(0, -1)},${dataMember}}` : `{${dataMember}}`;
}
