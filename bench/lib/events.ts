// SPDX-License-Identifier: Apache-2.0
// Request bodies for the load generators. Every event gets a random UUID as its id, as CloudEvents
// SDKs do by default, so the broker's dedupe never turns a measured append into a cheap "already seen"
// answer and its dedupe index sees the key distribution of real publishers.
import { randomUUID } from 'node:crypto';

/** Stands for the id in a body template; as long as a UUID, so the padding stays right. */
const SAMPLE_ID = '00000000-0000-4000-8000-000000000000';

function padTo(template: (pad: string) => string, size: number): string {
  const base = template('').length;
  return template('x'.repeat(Math.max(0, size - base)));
}

/**
 * Structured-mode (`application/cloudevents+json`) events of `size` bytes (for ids of the typical
 * length). Returns a function giving the next request body.
 */
export function structuredEvents(size: number, type = 'com.example.bench.ingress'): () => string {
  const sample = SAMPLE_ID;
  const whole = padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${sample}","source":"/bench/ingress","type":"${type}","time":"2026-11-01T12:00:00Z","datacontenttype":"application/json","data":{"payload":"${pad}"}}`,
    size,
  );
  const [head, tail] = whole.split(sample) as [string, string];
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
  const sample = SAMPLE_ID;
  const stamp = '0000000000000.000';
  const whole = padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${sample}","source":"/bench/e2e","type":"${type}","benchsent":"${stamp}","datacontenttype":"application/json","data":{"payload":"${pad}"}}`,
    size,
  );
  const [head, rest] = whole.split(sample) as [string, string];
  const [middle, tail] = rest.split(stamp) as [string, string];
  return (intendedEpochMs) => `${head}${randomUUID()}${middle}${intendedEpochMs.toFixed(3)}${tail}`;
}

export interface BatchOptions {
  readonly events: number;
  readonly eventSize: number;
  readonly type?: string;
  readonly source?: string;
}

/** Batch-mode (`application/cloudevents-batch+json`) bodies of `events` events of about `eventSize` bytes each. */
export function batchEvents(options: BatchOptions): () => string {
  const sample = SAMPLE_ID;
  const type = options.type ?? 'com.example.bench.batch';
  const source = options.source ?? '/bench/batch';
  const one = padTo(
    (pad) =>
      `{"specversion":"1.0","id":"${sample}","source":"${source}","type":"${type}","datacontenttype":"application/json","data":{"p":"${pad}"}}`,
    options.eventSize,
  );
  const [head, tail] = one.split(sample) as [string, string];
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
