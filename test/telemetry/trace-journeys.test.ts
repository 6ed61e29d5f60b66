// Trace context on the paths past the first delivery attempt, against a real broker, real sink processes
// and the real OTLP receiver process (test/telemetry/otlp-receiver.mjs): the dead-letter sink's delivery,
// and an event that carries its own trace in the CloudEvents Distributed Tracing extension
// (`traceparent`/`tracestate` attributes) rather than, or besides, the HTTP headers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishBatch, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { bodyText, removeDir, startBroker, startSink } from '../harness/processes.js';
import { freePort, waitFor } from '../infra/process.js';
import type { ReceivedSpan, Receiver } from './receiver.js';
import { startReceiver } from './receiver.js';
import { parseTraceparent, publisherContext } from './w3c-context.js';

describe('trace context past the first delivery', () => {
  let receiver: Receiver;
  let sink: SinkProcess;
  let deadLetterSink: SinkProcess;
  let broker: BrokerProcess;

  beforeAll(async () => {
    [receiver, sink, deadLetterSink] = await Promise.all([startReceiver(), startSink(), startSink()]);
    broker = await startBroker({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
  });

  afterAll(async () => {
    await Promise.all([broker?.stop(), sink?.stop(), deadLetterSink?.stop()]);
    receiver?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  /** Waits until the receiver holds the CLIENT spans `predicate` accepts, `count` of them. */
  async function clientSpans(
    what: string,
    count: number,
    predicate: (span: ReceivedSpan) => boolean,
  ): Promise<ReceivedSpan[]> {
    return waitFor(
      what,
      async () => {
        const spans = (await receiver.spans()).spans.filter((s) => s.kind === 'CLIENT' && predicate(s));
        return spans.length >= count ? spans : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  it("the dead-letter sink's delivery attempts are spans of the publisher's trace, each named by the traceparent it receives", async () => {
    const publisher = publisherContext();
    // A loopback port nothing listens on: the delivery fails at once and the event is dead-lettered.
    const deadSink = `http://127.0.0.1:${await freePort()}/`;
    const dlsUrl = `${deadLetterSink.url}/dls`;
    // The dead-letter sink refuses its first request: its second attempt must be a span of its own too.
    await deadLetterSink.configure({ failTimes: 1, failStatus: 503 });
    await subscribe(broker.url, {
      sink: deadSink,
      types: ['com.example.journey.dead'],
      delivery: { retry: 0, deadLetterSink: dlsUrl },
    });
    await publishBatch(broker.url, [{ id: 'journey-dead-1', type: 'com.example.journey.dead' }], {
      traceparent: publisher.traceparent,
      tracestate: 'vendor=publisher',
    });
    const records = await deadLetterSink.waitFor((r) => r.filter((x) => x.status === 200).length === 1);
    expect(records.map((r) => r.headers['herald-attempt'])).toEqual(['1', '2']);
    const received = records.map((r) => parseTraceparent(r.headers['traceparent']));
    for (const context of received) {
      // The publisher's trace, and a parent that is Herald's span for this very attempt: not the
      // publisher's own span, which skipped Herald's hop in the consumer's trace.
      expect(context.traceId).toBe(publisher.traceId);
      expect(context.parentId).not.toBe(publisher.spanId);
    }
    expect(received[0]!.parentId).not.toBe(received[1]!.parentId);
    const spans = await clientSpans(
      'the dead-letter sink spans',
      2,
      (s) => s.attributes['url.full'] === dlsUrl,
    );
    for (const [i, record] of records.entries()) {
      const span = spans.find((s) => s.spanId === received[i]!.parentId);
      expect(span, `a span named by the traceparent of attempt ${i + 1}`).toBeDefined();
      expect(span!.traceId).toBe(publisher.traceId);
      expect(span!.parentSpanId).toBe(publisher.spanId);
      expect(span!.attributes['herald.attempt']).toBe(i + 1);
      expect(span!.attributes['cloudevents.event_id']).toBe('journey-dead-1');
      expect(span!.attributes['herald.dead_letter_sink']).toBe(true);
      expect(record.headers['tracestate']).toBe('vendor=publisher');
    }
    expect(spans.find((s) => s.parentSpanId === publisher.spanId && s.status === 2)).toBeDefined();
  });

  it('an event carrying the Distributed Tracing extension keeps it, and its delivery span links to that context', async () => {
    const viaExtension = publisherContext();
    await subscribe(broker.url, { sink: `${sink.url}/extension`, types: ['com.example.journey.ext'] });
    await subscribe(broker.url, {
      sink: `${sink.url}/extension-structured`,
      types: ['com.example.journey.ext'],
      delivery: { contentMode: 'structured' },
    });
    // Structured mode, the trace only in the event (as a bridge from another transport sends it).
    const response = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'journey-ext-1',
        source: '/tests/journey',
        type: 'com.example.journey.ext',
        traceparent: viaExtension.traceparent,
        tracestate: 'vendor=creator',
      }),
    });
    expect(response.status).toBe(202);
    const records = await sink.waitFor((r) => r.filter((x) => x.path.startsWith('/extension')).length === 2);
    const binary = records.find((r) => r.path === '/extension')!;
    const structured = records.find((r) => r.path === '/extension-structured')!;
    // The extension is the event's: kept unchanged in both modes (ce-* headers in binary mode).
    expect(binary.headers['ce-traceparent']).toBe(viaExtension.traceparent);
    expect(binary.headers['ce-tracestate']).toBe('vendor=creator');
    expect(JSON.parse(bodyText(structured))).toMatchObject({
      traceparent: viaExtension.traceparent,
      tracestate: 'vendor=creator',
    });
    // Each delivery span links to the context the event was created in.
    const spans = await clientSpans(
      'the delivery spans of journey-ext-1',
      2,
      (s) => s.attributes['cloudevents.event_id'] === 'journey-ext-1',
    );
    for (const record of [binary, structured] as SinkRecord[]) {
      const span = spans.find((s) => s.spanId === parseTraceparent(record.headers['traceparent']).parentId)!;
      expect(span.links).toEqual([{ traceId: viaExtension.traceId, spanId: viaExtension.spanId }]);
    }
  });

  it('binary mode with both ce-traceparent and traceparent: the header is the parent, the extension a link, both reach the sink', async () => {
    const header = publisherContext();
    const extension = publisherContext();
    await subscribe(broker.url, { sink: `${sink.url}/both`, types: ['com.example.journey.both'] });
    const response = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'journey-both-1',
        'ce-source': '/tests/journey',
        'ce-type': 'com.example.journey.both',
        'ce-traceparent': extension.traceparent,
        'content-type': 'text/plain',
        traceparent: header.traceparent,
      },
      body: 'both',
    });
    expect(response.status).toBe(202);
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/both'));
    const record = records.find((x) => x.path === '/both')!;
    expect(record.headers['ce-traceparent']).toBe(extension.traceparent);
    const received = parseTraceparent(record.headers['traceparent']);
    expect(received.traceId).toBe(header.traceId);
    const [span] = await clientSpans(
      'the delivery span of journey-both-1',
      1,
      (s) => s.attributes['cloudevents.event_id'] === 'journey-both-1',
    );
    expect(span!.spanId).toBe(received.parentId);
    expect(span!.parentSpanId).toBe(header.spanId);
    expect(span!.links).toEqual([{ traceId: extension.traceId, spanId: extension.spanId }]);
  });

  it('a batch delivery links to every event’s extension context besides the stored ones', async () => {
    const publisher = publisherContext();
    const first = publisherContext();
    const second = publisherContext();
    await subscribe(broker.url, {
      sink: `${sink.url}/batch`,
      types: ['com.example.journey.batch'],
      delivery: { contentMode: 'batch', batch: { maxEvents: 2, maxWait: 'PT5S' } },
    });
    const response = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json', traceparent: publisher.traceparent },
      body: JSON.stringify(
        [first, second].map((c, i) => ({
          specversion: '1.0',
          id: `journey-batch-${i}`,
          source: '/tests/journey',
          type: 'com.example.journey.batch',
          traceparent: c.traceparent,
        })),
      ),
    });
    expect(response.status).toBe(202);
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/batch'));
    const record = records.find((x) => x.path === '/batch')!;
    expect(record.headers['herald-batch-size']).toBe('2');
    const received = parseTraceparent(record.headers['traceparent']);
    const [span] = await clientSpans('the batch delivery span', 1, (s) => s.spanId === received.parentId);
    expect(span!.parentSpanId).toBe(publisher.spanId);
    const links = span!.links.map((l) => `${l.traceId}-${l.spanId}`).sort();
    expect(links).toEqual([publisher, first, second].map((c) => `${c.traceId}-${c.spanId}`).sort());
  });
});
