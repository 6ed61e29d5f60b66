// The trace context a publisher sends (`traceparent`, `tracestate`, B3, `x-request-id`) is stored with
// every event of its request and sent to every sink. Node lets a request's headers reach 16 KiB, and a
// batch may carry thousands of events: without a bound of its own a few hundred bytes of events would
// store (and deliver) megabytes of a publisher's `tracestate`, outside --max-event-size and
// --max-request-size. --max-trace-context bounds what is kept per event, counted in
// herald_limit_rejections_total{limit="max-trace-context"}.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { subscribe } from '../harness/client.js';
import { useBrokerAndSink } from '../harness/processes.js';
import { metricValue, send } from '../support/http.js';

/** Bytes of the embedded store's log segments (`*.seg`; not the preallocated spare) under `dir`. */
function segmentBytes(dir: string): number {
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (entry.endsWith('.seg')) bytes += statSync(path.join(dir, entry)).size;
  }
  return bytes;
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
// --max-trace-context's default (2 KiB).
const DEFAULT_MAX_TRACE_CONTEXT = 2048;

describe('trace context kept with each event is bounded (--max-trace-context)', () => {
  const context = useBrokerAndSink();

  it('a 12 KB tracestate on a batch of 200 events is not stored 200 times, and the traceparent still is', async () => {
    const { broker, sink } = context;
    await subscribe(broker.url, { sink: `${sink.url}/bounded`, types: ['dev.herald.trace.bounds'] });
    const events = 200;
    const batch = Array.from({ length: events }, (_, i) => ({
      specversion: '1.0',
      id: `bounds-${i}`,
      source: '/t',
      type: 'dev.herald.trace.bounds',
    }));
    const body = JSON.stringify(batch);
    const response = await send(broker.url, {
      headers: {
        'content-type': 'application/cloudevents-batch+json',
        traceparent: TRACEPARENT,
        // One W3C list member far over what any tracer sends (OpenTelemetry drops a tracestate over 512).
        tracestate: `vendor=${randomBytes(9000).toString('base64url')}`,
      },
      body,
    });
    expect(response.status).toBe(202);
    const records = await sink.waitFor((r) => r.filter((x) => x.path === '/bounded').length === events);
    // What the log holds on disk for these events: their attributes plus at most the bounded trace context
    // each (before: 200 copies of the 12 KB header, 2.4 MB of segments for a 14 KB body). Read from the
    // segment files: herald_log_bytes (and so --retention-max-bytes) counts attributes and data only.
    expect(segmentBytes(broker.dataDir)).toBeLessThan(events * (DEFAULT_MAX_TRACE_CONTEXT + 512));
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_limit_rejections_total{limit="max-trace-context"}')).toBe(1);
    for (const record of records) {
      // The part that fits is kept and forwarded; the oversized header is not.
      expect(record.headers['traceparent']).toBe(TRACEPARENT);
      expect(record.headers['tracestate']?.length).toBeUndefined();
    }
  });
});
