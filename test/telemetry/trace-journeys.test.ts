// Trace context on the paths past the first delivery attempt, against a real broker, real sink processes
// and the real OTLP receiver process (test/telemetry/otlp-receiver.mjs): the dead-letter sink's delivery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishBatch, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { freePort, waitFor } from '../infra/process.js';
import type { ReceivedSpan, Receiver } from './receiver.js';
import { startReceiver } from './receiver.js';

/** A W3C context as a publisher's own span would send it. */
function context(): { traceId: string; spanId: string; traceparent: string } {
  const hex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

function parseTraceparent(value: string | undefined): { traceId: string; parentId: string } {
  const match = /^00-([\da-f]{32})-([\da-f]{16})-01$/.exec(value ?? '');
  if (match === null) throw new Error(`not a sampled W3C traceparent: ${value}`);
  return { traceId: match[1]!, parentId: match[2]! };
}

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
    const publisher = context();
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
});
