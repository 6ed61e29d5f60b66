// SPDX-License-Identifier: Apache-2.0
import { randomUUID } from 'node:crypto';
import { CloudEvent as SdkCloudEvent } from 'cloudevents';
import { eventFromJson, eventToJson } from '../cloudevents/index.js';
import type { CloudEvent as StoredEvent } from '../cloudevents/index.js';
import { isHeraldError } from '../errors/index.js';

/** A CloudEvent in the JSON event format (structured mode), as a plain object. */
export type StructuredEvent = Record<string, unknown>;

/**
 * What `publish` takes: the official `cloudevents` package's `CloudEvent`, or a plain object in the
 * JSON event format. A plain object without `specversion` gets `1.0`, without `id` a random UUID.
 */
export type EventInput = SdkCloudEvent<unknown> | StructuredEvent;

/** An event that fails CloudEvents validation on this side, before anything is sent. */
export class InvalidEventError extends Error {
  /** The `HERALD_*` code the broker would answer with. */
  readonly code: string;
  readonly attribute: string | undefined;
  readonly pointer: string | undefined;

  constructor(message: string, code: string, attribute?: string, pointer?: string) {
    super(message);
    this.name = 'InvalidEventError';
    this.code = code;
    this.attribute = attribute;
    this.pointer = pointer;
  }
}

/** One validated event, encoded once, ready to go into a batch. */
export interface EncodedEvent {
  readonly json: string;
  readonly bytes: number;
  readonly id: string;
  readonly source: string;
}

function hasToJson(value: object): value is { toJSON(): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** The JSON-format members of an input: `toJSON()` of an SDK event, or the plain object itself. */
export function structuredOf(input: EventInput): StructuredEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidEventError('an event must be an object', 'HERALD_INVALID_EVENT', undefined, '');
  }
  if (input instanceof SdkCloudEvent || hasToJson(input)) {
    const json = (input as { toJSON(): unknown }).toJSON();
    if (typeof json !== 'object' || json === null) {
      throw new InvalidEventError('toJSON() did not give an object', 'HERALD_INVALID_EVENT', undefined, '');
    }
    // The SDK's toJSON() keeps unset attributes as undefined members; unset means absent.
    return Object.fromEntries(Object.entries(json).filter(([, value]) => value !== undefined));
  }
  const members: StructuredEvent = { ...input };
  members['specversion'] ??= '1.0';
  members['id'] ??= randomUUID();
  return members;
}

/** Validates an already parsed JSON-format event exactly as the broker's ingress does. */
export function validateStructured(value: unknown): StoredEvent {
  try {
    return eventFromJson(value);
  } catch (error) {
    if (isHeraldError(error)) {
      throw new InvalidEventError(error.message, error.code, error.attribute, error.pointer);
    }
    throw error;
  }
}

/** Validates an input and renders it in the JSON event format. */
export function encodeEvent(input: EventInput): EncodedEvent {
  const event = validateStructured(structuredOf(input));
  const json = eventToJson(event);
  return {
    json,
    bytes: Buffer.byteLength(json),
    id: String(event.attributes['id']),
    source: String(event.attributes['source']),
  };
}

/** The official SDK's `CloudEvent` for a JSON-format event (not re-validated: the broker did that). */
export function toSdkEvent(structured: StructuredEvent): SdkCloudEvent<unknown> {
  return new SdkCloudEvent<unknown>(structured, false);
}
