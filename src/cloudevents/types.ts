/**
 * A context attribute value in its typed form: CloudEvents Integer is a `number`, Boolean a `boolean`;
 * every other type (String, URI, URI-reference, Timestamp, Binary) travels as its canonical string.
 */
export type AttributeValue = string | number | boolean;

export type Attributes = Readonly<Record<string, AttributeValue>>;

/** How the event's data bytes are to be read, decided once at ingress. */
export const DataKind = {
  /** No `data` member at all. */
  None: 0,
  /** The bytes are one JSON value (UTF-8), rendered as `data` in structured mode. */
  Json: 1,
  /** The bytes are UTF-8 text of a non-JSON media type, rendered as a `data` string. */
  Text: 2,
  /** Opaque bytes, rendered as `data_base64`. */
  Binary: 3,
} as const;
export type DataKind = (typeof DataKind)[keyof typeof DataKind];

/**
 * One CloudEvent as Herald keeps it: validated attributes plus the exact data bytes.
 *
 * @remarks Keeping data as bytes (not a parsed value) is what makes binary-mode delivery byte-exact
 * and lets the store write the payload without re-encoding it.
 */
export interface CloudEvent {
  readonly attributes: Attributes;
  readonly data: Uint8Array | undefined;
  readonly dataKind: DataKind;
  /** The attributes as the JSON text they were decoded from, when the JSON event format kept it. */
  readonly attributesJson?: AttributesJson;
}

/**
 * An event's attributes as JSON text the producer sent: `text[start, end)` is the event's JSON object,
 * and without `text[cutStart, cutEnd)` (its `data` member) it is a JSON object that `JSON.parse` reads
 * back as exactly the attributes `of` (no `null`, `data_base64` or escaped member names). The embedded
 * store writes these bytes instead of serialising the attributes again (~0.4 µs per event,
 * bench/PROFILE.md, ninth round).
 *
 * @remarks It describes the object `of` only: an event derived with other attributes (`{ ...event,
 * attributes }`) carries a stale one, which `attributesJsonOf` ignores.
 */
export interface AttributesJson {
  readonly of: Attributes;
  readonly text: Uint8Array;
  readonly start: number;
  readonly cutStart: number;
  readonly cutEnd: number;
  readonly end: number;
}

/** The event's `AttributesJson` when it describes the event's attributes, else undefined. */
export function attributesJsonOf(event: CloudEvent): AttributesJson | undefined {
  const json = event.attributesJson;
  return json !== undefined && json.of === event.attributes ? json : undefined;
}

/** The byte length of the attributes' JSON text: the event object less its data member. */
export function attributesJsonLength(json: AttributesJson): number {
  return json.cutStart - json.start + json.end - json.cutEnd;
}

/**
 * Copies the attributes' JSON text (the producer's bytes around the data member, as they are) into
 * `into` at `at`, and returns its length. The stores write records this way instead of serialising.
 */
export function copyAttributesJson(json: AttributesJson, into: Uint8Array, at: number): number {
  into.set(json.text.subarray(json.start, json.cutStart), at);
  into.set(json.text.subarray(json.cutEnd, json.end), at + json.cutStart - json.start);
  return attributesJsonLength(json);
}

/**
 * The `AttributesJson` of attributes read back from a store's record, whose `text[0, length)` is their
 * JSON object as written (the producer's text or a serialisation), which `JSON.parse` read as `of`.
 */
export function storedAttributesJson(of: Attributes, text: Uint8Array, length: number): AttributesJson {
  return { of, text, start: 0, cutStart: length, cutEnd: length, end: length };
}

export const REQUIRED_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;
export const SUPPORTED_SPECVERSION = '1.0';

/**
 * A fresh, empty attribute object without inherited members: a `constructor` or `__proto__` attribute
 * is an ordinary member (so it reaches name validation), and looking up an unset name finds nothing.
 *
 * @remarks `Object.create(null)` gives the same, but V8 keeps such objects as dictionaries; instances
 * of a constructor whose prototype is itself prototype-less get a hidden class, which made filling,
 * listing and serialising an event's attributes about half a microsecond cheaper per event.
 */
export function emptyAttributes(): Record<string, unknown> {
  return new AttributeRecord();
}

const AttributeRecord = function AttributeRecord() {
  // Members are added by the caller.
} as unknown as new () => Record<string, unknown>;
AttributeRecord.prototype = Object.create(null) as object;
