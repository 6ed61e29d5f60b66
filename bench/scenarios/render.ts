// SPDX-License-Identifier: Apache-2.0
// Micro-benchmark of rendering stored events for JSON delivery (batch and structured mode), in this
// process: the bytes the sink client sends (`batchToJsonBytes`, which copies each event's stored
// attributes text) next to the route it replaced (each event serialised to a string by `eventToJson`,
// joined, then encoded to UTF-8 as the HTTP client does with a string body), on the same decoded events.
import { performance } from 'node:perf_hooks';
import { DataKind, batchToJsonBytes, eventToJson } from '../../src/cloudevents/index.js';
import type { CloudEvent } from '../../src/cloudevents/index.js';
import type { StoredEvent } from '../../src/store/index.js';
// The embedded store's block codec, not its public index: the events must be decoded exactly as a
// delivery reads them, without a store around them.
import { BlockEncoder, decodeBlock } from '../../src/store/embedded/block-codec.js';
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';

const EVENTS = 1000;
const STORED_AT = 1_700_000_000_000;

/** One commit group of 1 KB events with `dataKind` data, encoded into blocks and decoded back. */
function storedEvents(dataKind: DataKind): CloudEvent[] {
  const encoder = new BlockEncoder();
  const data = Buffer.from(JSON.stringify({ payload: 'x'.repeat(900), n: 1 }));
  for (let i = 0; i < EVENTS; i++) {
    const attributes = JSON.stringify({
      specversion: '1.0',
      id: `render-${i}`,
      source: '/bench/render',
      type: 'bench.render',
      datacontenttype: dataKind === DataKind.Binary ? 'application/octet-stream' : 'application/json',
      time: new Date(STORED_AT).toISOString(),
    });
    encoder.add(i + 1, STORED_AT, attributes, data, dataKind, null, i);
  }
  const out: StoredEvent[] = [];
  for (const [firstSeq, , storedAt, , , payload] of encoder.finish()) {
    const block = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    decodeBlock(block, firstSeq, storedAt, 0, Infinity, out);
  }
  return out.map((stored) => stored.event);
}

/** Events rendered per second by `render`, rendering `events` again and again for `durationMs`. */
function rate(
  events: readonly CloudEvent[],
  render: (events: readonly CloudEvent[]) => Buffer,
  durationMs: number,
): number {
  let done = 0;
  let elapsed = 0;
  const start = performance.now();
  while (elapsed < durationMs) {
    render(events);
    done += events.length;
    elapsed = performance.now() - start;
  }
  return (done * 1000) / elapsed;
}

const viaString = (events: readonly CloudEvent[]): Buffer =>
  Buffer.from(`[${events.map((event) => eventToJson(event)).join(',')}]`);

export const renderScenario: Scenario = {
  id: 'render',
  title: 'JSON delivery rendering (micro-benchmark, one thread)',
  run(context) {
    const out = output();
    const durationMs = context.mode === 'quick' ? 100 : 300;
    for (const [name, kind] of [
      ['JSON data', DataKind.Json],
      ['binary data (data_base64)', DataKind.Binary],
    ] as const) {
      const events = storedEvents(kind);
      const bytes = batchToJsonBytes(events);
      if (!bytes.equals(viaString(events))) throw new Error(`render: the two routes disagree for ${name}`);
      // The two alternate, round by round, so neither always runs on a warmer or cooler machine.
      let value = 0;
      let baseline = 0;
      for (let round = 0; round < 3; round++) {
        value = Math.max(value, rate(events, batchToJsonBytes, durationMs));
        baseline = Math.max(baseline, rate(events, viaString, durationMs));
      }
      out.rows.push({
        scenario: 'render',
        name: `batch of ${EVENTS.toLocaleString('en-US')} 1 KB events, ${name}`,
        value,
        unit: 'events/s',
        baseline: { name: 'eventToJson, joined, encoded', value: baseline, unit: 'events/s' },
        data: { events: EVENTS, bodyBytes: bytes.length },
      });
    }
    out.notes.push(
      `render: best of 3 rounds of ${durationMs} ms; no target, ratio is the bytes route ÷ the string route it replaced.`,
    );
    return Promise.resolve(out);
  },
};
