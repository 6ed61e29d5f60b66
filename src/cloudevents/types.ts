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
