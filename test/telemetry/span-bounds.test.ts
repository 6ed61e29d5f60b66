// What a publisher sends must not make the broker's spans unbounded. Exported spans are held in the
// batch processor's queue (2,048 of them) while the collector is slow or away and sent 512 to a request:
// an event attribute or header carried whole into every span (an event's `subject` of nearly
// --max-event-size, 1 MiB; a 16 KiB User-Agent) made each span up to a megabyte, so gigabytes in the
// queue and export requests no collector takes (gRPC's default receive limit is 4 MiB), losing every
// other span of the batch with them. And the ingress span's name and `http.route` are
// low-cardinality by definition (the route served): taken from the raw path, every extra `/` a client
// adds was a span name of its own, an operation of its own in every trace backend and a series of its
// own in span metrics.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { bodyText, removeDir, startBroker, startSink } from '../harness/processes.js';
import { waitFor } from '../infra/process.js';
import type { ReceivedSpan, Receiver } from './receiver.js';
import { startReceiver } from './receiver.js';

/** Herald's bound on a span attribute value when the OTEL_* variables set none (docs/operations.md). */
const ATTRIBUTE_VALUE_LENGTH_LIMIT = 4096;

function newTraceparent(): { traceId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

describe('spans carry no unbounded or high-cardinality publisher input', () => {
  let receiver: Receiver;
  let broker: BrokerProcess;
  let sink: SinkProcess;

  beforeAll(async () => {
    [receiver, sink] = await Promise.all([startReceiver(), startSink()]);
    broker = await startBroker({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Export within a fraction of a second instead of the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
  });

  afterAll(async () => {
    await Promise.all([broker?.stop(), sink?.stop()]);
    receiver?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  /** The spans of `traceId` once every kind in `kinds` has arrived. */
  function spansOf(traceId: string, kinds: readonly string[]): Promise<ReceivedSpan[]> {
    return waitFor(
      `spans ${kinds.join(', ')} of trace ${traceId}`,
      async () => {
        const spans = (await receiver.spans()).spans.filter((s) => s.traceId === traceId);
        return kinds.every((kind) => spans.some((s) => s.kind === kind)) ? spans : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  it('the ingress span is named after the route served, however many slashes the path has', async () => {
    const paths = ['/events', '/events/', '/events//', '/events///', '/events/pub//'];
    const traces: { path: string; traceId: string }[] = [];
    for (const path of paths) {
      const { traceId, traceparent } = newTraceparent();
      const response = await fetch(`${broker.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', traceparent },
        body: JSON.stringify({
          specversion: '1.0',
          id: traceId,
          source: '/t',
          type: 'dev.herald.span.route',
        }),
      });
      expect(response.status).toBe(202);
      traces.push({ path, traceId });
    }
    for (const { path, traceId } of traces) {
      const ingress = (await spansOf(traceId, ['SERVER'])).find((s) => s.kind === 'SERVER')!;
      const route = path.startsWith('/events/pub') ? '/events/pub' : '/events';
      expect({ path, name: ingress.name, route: ingress.attributes['http.route'] }).toEqual({
        path,
        name: `POST ${route}`,
        route,
      });
    }
  });

  it("a 200 KB subject and a 12 KB User-Agent are not carried whole by the request's spans", async () => {
    await subscribe(broker.url, {
      sink: `${sink.url}/bounded`,
      types: ['dev.herald.span.bounds'],
      // Structured: the subject travels in the body (a binary delivery's ce-subject header of 200 KB
      // would be refused by the sink's HTTP server).
      delivery: { contentMode: 'structured' },
    });
    const { traceId, traceparent } = newTraceparent();
    const subject = `s${'x'.repeat(200_000)}`;
    const response = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json',
        'user-agent': `agent/${'u'.repeat(12_000)}`,
        traceparent,
      },
      body: JSON.stringify({
        specversion: '1.0',
        id: traceId,
        source: '/t',
        type: 'dev.herald.span.bounds',
        subject,
      }),
    });
    expect(response.status).toBe(202);
    // The event itself is stored and delivered whole: only the spans are bounded.
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/bounded'));
    const delivered = JSON.parse(bodyText(records.find((x) => x.path === '/bounded')!)) as {
      subject: string;
    };
    expect(delivered.subject).toBe(subject);
    const spans = await spansOf(traceId, ['SERVER', 'PRODUCER', 'CLIENT']);
    const lengths = spans.flatMap((span) =>
      Object.entries(span.attributes)
        .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
        .map(([key, value]) => ({ span: span.kind, key, length: value.length })),
    );
    const over = lengths.filter(({ length }) => length > ATTRIBUTE_VALUE_LENGTH_LIMIT);
    expect(over).toEqual([]);
    // Cut, not dropped: the start of each value is still there.
    const producer = spans.find((s) => s.kind === 'PRODUCER')!;
    expect(producer.attributes['cloudevents.event_subject']).toBe(
      subject.slice(0, ATTRIBUTE_VALUE_LENGTH_LIMIT),
    );
    const server = spans.find((s) => s.kind === 'SERVER')!;
    expect(String(server.attributes['user_agent.original'])).toMatch(/^agent\/u+$/);
  });
});
