// OpenTelemetry traces across the durable hop: a real broker exports to a real OTLP receiver process
// (test/telemetry/otlp-receiver.mjs; OTLP/HTTP in both encodings and OTLP/gRPC), and one trace runs from the publisher's traceparent
// through the ingress and append spans to the delivery span and the consumer's received traceparent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishBatch, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { startJetStreamBroker } from '../jetstream/brokers.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startNatsServer } from '../infra/nats/server.js';
import { freePort, waitFor } from '../infra/process.js';
import type { ReceivedSpan, Receiver } from './receiver.js';
import { startReceiver } from './receiver.js';
import { parseTraceparent, publisherContext } from './w3c-context.js';

/** Collects the broker's stdout log lines from now on. */
function collectLogs(broker: BrokerProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  broker.child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts)
      if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return lines;
}

const STORES = [
  { store: 'embedded', protocol: 'http/protobuf', encoding: 'protobuf' },
  { store: 'jetstream', protocol: 'http/json', encoding: 'json' },
  { store: 'embedded', protocol: 'grpc', encoding: 'grpc' },
] as const;

describe.each(STORES)(
  'traces on the $store store, exported as $protocol',
  ({ store, protocol, encoding }) => {
    let receiver: Receiver;
    let sink: SinkProcess;
    let broker: BrokerProcess;
    let nats: NatsServer | undefined;
    let logs: Record<string, unknown>[];
    let deadSink: string;

    beforeAll(async () => {
      [receiver, sink] = await Promise.all([startReceiver(), startSink()]);
      const env = {
        OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? receiver.grpcEndpoint : receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_SERVICE_NAME: `herald-${store}`,
        // Export within a fraction of a second instead of the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      };
      if (store === 'jetstream') {
        nats = await startNatsServer();
        broker = await startJetStreamBroker(nats.url, { env });
      } else {
        broker = await startBroker({ env });
      }
      logs = collectLogs(broker);
      // A loopback port nothing listens on: deliveries there fail at once and are dead-lettered.
      deadSink = `http://127.0.0.1:${await freePort()}/`;
      await subscribe(broker.url, { sink: `${sink.url}/binary`, types: ['com.example.trace.binary'] });
      await subscribe(broker.url, {
        sink: `${sink.url}/structured`,
        types: ['com.example.trace.structured'],
        delivery: { contentMode: 'structured' },
      });
      await subscribe(broker.url, {
        sink: `${sink.url}/batch`,
        types: ['com.example.trace.batch'],
        delivery: { contentMode: 'batch', batch: { maxEvents: 2, maxWait: 'PT5S' } },
      });
      await subscribe(broker.url, {
        sink: deadSink,
        types: ['com.example.trace.dead'],
        delivery: { retry: 0 },
      });
    });

    afterAll(async () => {
      await Promise.all([broker?.stop(), sink?.stop()]);
      receiver?.stop();
      await nats?.stop();
      if (broker !== undefined) removeDir(broker.dataDir);
    });

    /** The first request the sink received on `path`. */
    async function deliveredTo(path: string): Promise<SinkRecord> {
      const records = await sink.waitFor((r) => r.some((x) => x.path === path));
      return records.find((x) => x.path === path)!;
    }

    /** Waits until the receiver holds spans of `traceId` of every kind in `kinds`. */
    async function spansOf(traceId: string, kinds: readonly string[]): Promise<ReceivedSpan[]> {
      return waitFor(
        `spans ${kinds.join(', ')} of trace ${traceId}`,
        async () => {
          const spans = (await receiver.spans()).spans.filter((s) => s.traceId === traceId);
          return kinds.every((kind) => spans.some((s) => s.kind === kind)) ? spans : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }

    /**
     * The chain every delivery mode must show: publisher → ingress (server) → append (producer), and
     * publisher → delivery (client) → the consumer's received traceparent, all in the publisher's trace.
     */
    async function expectOneTrace(
      publisher: ReturnType<typeof publisherContext>,
      record: SinkRecord,
    ): Promise<{ ingress: ReceivedSpan; append: ReceivedSpan; delivery: ReceivedSpan }> {
      const received = parseTraceparent(record.headers['traceparent']);
      expect(received.traceId).toBe(publisher.traceId);
      const spans = await spansOf(publisher.traceId, ['SERVER', 'PRODUCER', 'CLIENT']);
      const ingress = spans.find((s) => s.kind === 'SERVER')!;
      const append = spans.find((s) => s.kind === 'PRODUCER')!;
      const delivery = spans.find((s) => s.kind === 'CLIENT')!;
      expect(ingress.parentSpanId).toBe(publisher.spanId);
      expect(ingress.name).toBe('POST /events');
      expect(ingress.attributes['http.response.status_code']).toBe(202);
      expect(append.parentSpanId).toBe(ingress.spanId);
      expect(append.name).toMatch(/^send /);
      // The delivery continues the producer's stored context, across the log.
      expect(delivery.parentSpanId).toBe(publisher.spanId);
      // The consumer's parent is the delivery attempt's span.
      expect(received.parentId).toBe(delivery.spanId);
      expect(delivery.attributes['messaging.system']).toBe('herald');
      expect(delivery.attributes['herald.subscription']).toBe(record.headers['herald-subscription']);
      expect(delivery.attributes['http.response.status_code']).toBe(200);
      for (const span of [ingress, append, delivery]) {
        expect(span.encoding).toBe(encoding);
        expect(span.service).toBe(`herald-${store}`);
      }
      return { ingress, append, delivery };
    }

    it('binary delivery: one trace from the publisher to the consumer', async () => {
      const publisher = publisherContext();
      const response = await fetch(`${broker.url}/events`, {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': 'trace-binary-1',
          'ce-source': '/tests/trace',
          'ce-type': 'com.example.trace.binary',
          'content-type': 'text/plain',
          traceparent: publisher.traceparent,
        },
        body: 'traced',
      });
      expect(response.status).toBe(202);
      const record = await deliveredTo('/binary');
      const { append, delivery } = await expectOneTrace(publisher, record);
      for (const span of [append, delivery]) {
        expect(span.attributes['cloudevents.event_id']).toBe('trace-binary-1');
        expect(span.attributes['cloudevents.event_type']).toBe('com.example.trace.binary');
        expect(span.attributes['cloudevents.event_source']).toBe('/tests/trace');
        expect(span.attributes['cloudevents.event_spec_version']).toBe('1.0');
      }
      expect(delivery.attributes['herald.content_mode']).toBe('binary');
    });

    it('structured delivery: one trace from the publisher to the consumer', async () => {
      const publisher = publisherContext();
      const response = await fetch(`${broker.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', traceparent: publisher.traceparent },
        body: JSON.stringify({
          specversion: '1.0',
          id: 'trace-structured-1',
          source: '/tests/trace',
          type: 'com.example.trace.structured',
        }),
      });
      expect(response.status).toBe(202);
      const record = await deliveredTo('/structured');
      const { delivery } = await expectOneTrace(publisher, record);
      expect(delivery.attributes['cloudevents.event_id']).toBe('trace-structured-1');
      expect(delivery.attributes['herald.content_mode']).toBe('structured');
    });

    it('batch delivery: a published batch and its batched delivery stay in the publisher trace', async () => {
      const publisher = publisherContext();
      await publishBatch(
        broker.url,
        [
          { id: 'trace-batch-1', type: 'com.example.trace.batch' },
          { id: 'trace-batch-2', type: 'com.example.trace.batch' },
        ],
        { traceparent: publisher.traceparent },
      );
      const record = await deliveredTo('/batch');
      expect(record.headers['herald-batch-size']).toBe('2');
      const { append, delivery } = await expectOneTrace(publisher, record);
      expect(append.attributes['messaging.batch.message_count']).toBe(2);
      expect(delivery.attributes['messaging.batch.message_count']).toBe(2);
      expect(delivery.attributes['herald.content_mode']).toBe('batch');
      // The second event's stored context is linked (here the same publisher span).
      expect(delivery.links).toEqual([{ traceId: publisher.traceId, spanId: publisher.spanId }]);
    });

    it('a failed delivery is an error span, and the dead-letter log line carries the trace id', async () => {
      const publisher = publisherContext();
      await publishBatch(broker.url, [{ id: 'trace-dead-1', type: 'com.example.trace.dead' }], {
        traceparent: publisher.traceparent,
      });
      const spans = await spansOf(publisher.traceId, ['SERVER', 'PRODUCER', 'CLIENT']);
      const delivery = spans.find((s) => s.kind === 'CLIENT')!;
      expect(delivery.status).toBe(2); // STATUS_CODE_ERROR
      expect(delivery.attributes['error.type']).toBe('network');
      expect(delivery.attributes['url.full']).toBe(deadSink);
      const line = await waitFor(
        'the dead-letter log line',
        async () => logs.find((l) => l['msg'] === 'dead-lettered' && l['trace_id'] === publisher.traceId),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(line['trace_id']).toBe(publisher.traceId);
    });

    it('a request without traceparent starts a trace at ingress that delivery continues', async () => {
      const response = await fetch(`${broker.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({
          specversion: '1.0',
          id: 'trace-root-1',
          source: '/tests/trace',
          type: 'com.example.trace.binary',
        }),
      });
      expect(response.status).toBe(202);
      const records = await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === 'trace-root-1'));
      const record = records.find((x) => x.headers['ce-id'] === 'trace-root-1')!;
      const received = parseTraceparent(record.headers['traceparent']);
      const spans = await spansOf(received.traceId, ['SERVER', 'CLIENT']);
      const ingress = spans.find((s) => s.kind === 'SERVER')!;
      const delivery = spans.find((s) => s.kind === 'CLIENT')!;
      expect(ingress.parentSpanId).toBe('');
      expect(delivery.parentSpanId).toBe(ingress.spanId);
      expect(received.parentId).toBe(delivery.spanId);
    });

    it.each([
      ['not W3C at all', 'garbage'],
      ['an all-zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ])(
      'a request whose traceparent is invalid (%s) is traced like one without: delivery continues the ingress trace',
      async (_what, traceparent) => {
        const id = `trace-invalid-${crypto.randomUUID()}`;
        const response = await fetch(`${broker.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json', traceparent, tracestate: 'vendor=x' },
          body: JSON.stringify({
            specversion: '1.0',
            id,
            source: '/tests/trace',
            type: 'com.example.trace.binary',
          }),
        });
        expect(response.status).toBe(202);
        const records = await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === id));
        const record = records.find((x) => x.headers['ce-id'] === id)!;
        // The ingress span (W3C: an invalid traceparent restarts the trace) and its append child name the
        // event; the delivery span must be in that same trace, the ingress span its parent.
        const spans = await waitFor(
          `the append and delivery spans of ${id}`,
          async () => {
            const all = (await receiver.spans()).spans.filter(
              (s) => s.attributes['cloudevents.event_id'] === id,
            );
            return all.some((s) => s.kind === 'PRODUCER') && all.some((s) => s.kind === 'CLIENT')
              ? all
              : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 100 },
        );
        const append = spans.find((s) => s.kind === 'PRODUCER')!;
        const delivery = spans.find((s) => s.kind === 'CLIENT')!;
        expect(delivery.traceId).toBe(append.traceId);
        expect(delivery.parentSpanId).toBe(append.parentSpanId);
        expect(parseTraceparent(record.headers['traceparent']).traceId).toBe(append.traceId);
      },
    );
  },
);

describe('the stored producer context survives a SIGKILL of the broker', () => {
  let receiver: Receiver;
  let sink: SinkProcess;
  const brokers: BrokerProcess[] = [];

  beforeAll(async () => {
    [receiver, sink] = await Promise.all([startReceiver(), startSink()]);
  });

  afterAll(async () => {
    for (const b of brokers) await b.stop();
    await sink?.stop();
    receiver?.stop();
    if (brokers[0] !== undefined) removeDir(brokers[0].dataDir);
  });

  it('a delivery made by the restarted broker continues the publisher trace', async () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const first = await startBroker({ env });
    brokers.push(first);
    const publisher = publisherContext();
    await publishBatch(first.url, [{ id: 'trace-restart-1', type: 'com.example.trace.restart' }], {
      traceparent: publisher.traceparent,
    });
    // Acknowledged means durable: nothing of this process's memory may be needed for the trace.
    await first.stop('SIGKILL');
    const second = await startBroker({ env, dataDir: first.dataDir });
    brokers.push(second);
    await subscribe(second.url, {
      sink: `${sink.url}/restart`,
      types: ['com.example.trace.restart'],
      startAt: 'earliest',
    });
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/restart'));
    const record = records.find((x) => x.path === '/restart')!;
    const received = parseTraceparent(record.headers['traceparent']);
    expect(received.traceId).toBe(publisher.traceId);
    const delivery = await waitFor(
      'the delivery span of the restarted broker',
      async () =>
        (await receiver.spans()).spans.find(
          (s) => s.kind === 'CLIENT' && s.attributes['cloudevents.event_id'] === 'trace-restart-1',
        ),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(delivery.traceId).toBe(publisher.traceId);
    expect(delivery.parentSpanId).toBe(publisher.spanId);
    expect(received.parentId).toBe(delivery.spanId);
  });
});
