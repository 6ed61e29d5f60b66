// SPDX-License-Identifier: Apache-2.0
// Request bodies for the load generators. Every event gets a random UUID as its id, as CloudEvents
// SDKs do by default, so the broker's dedupe never turns a measured append into a cheap "already seen"
// answer and its dedupe index sees the key distribution of real publishers.
import { randomUUID } from 'node:crypto';

/** Stands for the id in a request template; as long as a UUID, so the padding stays right. */
export const ID = '00000000-0000-4000-8000-000000000000';

function padTo(template: (pad: string) => string, size: number): string {
  const base = template('').length;
  return template('x'.repeat(Math.max(0, size - base)));
}

/** A structured-mode (`application/cloudevents+json`) event of `size` bytes whose id is `ID`. */
export function structuredEvent(size: number, type = 'com.example.bench.ingress'): string {
  return padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${ID}","source":"/bench/ingress","type":"${type}","time":"2026-11-01T12:00:00Z","datacontenttype":"application/json","data":{"payload":"${pad}"}}`,
    size,
  );
}

/** `structuredEvent`s with random ids: a function giving the next request body. */
export function structuredEvents(size: number, type = 'com.example.bench.ingress'): () => string {
  const [head, tail] = structuredEvent(size, type).split(ID) as [string, string];
  return () => `${head}${randomUUID()}${tail}`;
}

/**
 * Structured-mode events of about `size` bytes that carry their intended send time as the `benchsent`
 * extension (a string of epoch milliseconds, as in binary mode's `ce-benchsent`): for deliveries in
 * structured mode, where the sink reads it from the body. Returns a function of that send time.
 */
export function timedStructuredEvents(
  size: number,
  type = 'com.example.bench.e2e',
): (intendedEpochMs: number) => string {
  const stamp = '0000000000000.000';
  const whole = padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${ID}","source":"/bench/e2e","type":"${type}","benchsent":"${stamp}","datacontenttype":"application/json","data":{"payload":"${pad}"}}`,
    size,
  );
  const [head, rest] = whole.split(ID) as [string, string];
  const [middle, tail] = rest.split(stamp) as [string, string];
  return (intendedEpochMs) => `${head}${randomUUID()}${middle}${intendedEpochMs.toFixed(3)}${tail}`;
}

export interface BatchOptions {
  readonly events: number;
  readonly eventSize: number;
  readonly type?: string;
  readonly source?: string;
}

/** One event of a batch body, of about `eventSize` bytes, whose id is `ID`. */
function batchMember(options: BatchOptions): string {
  const type = options.type ?? 'com.example.bench.batch';
  const source = options.source ?? '/bench/batch';
  return padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${ID}","source":"${source}","type":"${type}","datacontenttype":"application/json","data":{"p":"${pad}"}}`,
    options.eventSize,
  );
}

/** A batch-mode (`application/cloudevents-batch+json`) body of `events` events, each with `ID` as its id. */
export function batchEvent(options: BatchOptions): string {
  return `[${Array.from({ length: options.events }, () => batchMember(options)).join(',')}]`;
}

/** Batch-mode bodies of `events` events of about `eventSize` bytes each, with random ids. */
export function batchEvents(options: BatchOptions): () => string {
  const [head, tail] = batchMember(options).split(ID) as [string, string];
  return () => {
    const parts: string[] = [];
    for (let i = 0; i < options.events; i++) parts.push(`${head}${randomUUID()}${tail}`);
    return `[${parts.join(',')}]`;
  };
}

export const STRUCTURED = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';

/** Binary-mode headers of one event carrying its intended send time (`ce-benchsent`, epoch ms). */
export function binaryEvents(
  type = 'com.example.bench.e2e',
): (intendedEpochMs: number) => Record<string, string> {
  return (intendedEpochMs) => ({
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': randomUUID(),
    'ce-source': '/bench/e2e',
    'ce-type': type,
    'ce-benchsent': intendedEpochMs.toFixed(3),
  });
}

/** A JSON data payload of `size` bytes for binary-mode events. */
export function jsonPayload(size: number): string {
  return padTo((pad) => `{"payload":"${pad}"}`, size);
}
