// The OpenTelemetry implementation of `Tracing`. Imported only when the OTEL_* variables turn tracing
// on (see tracing.ts), so a broker without them never loads @opentelemetry/*.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Link, SpanContext, TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type {
  DeliverySpan,
  DeliveryTarget,
  IngressSpan,
  OtelEnvironment,
  TraceCarrier,
  TracedEvent,
  Tracing,
  TracingResource,
} from './tracing.js';
import { TracingConfigError } from './tracing.js';

const SCOPE = 'herald';
const w3c = new W3CTraceContextPropagator();

const recordGetter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const incomingGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The exporter `OTEL_TRACES_EXPORTER` names; only the OTLP transport in use is loaded (gRPC's is heavy). */
async function exporterFor(name: string, env: OtelEnvironment): Promise<SpanExporter> {
  if (name === 'console') return new ConsoleSpanExporter();
  if (name !== 'otlp') {
    throw new TracingConfigError(`OTEL_TRACES_EXPORTER=${name} is not supported: use otlp, console or none`);
  }
  const protocol = (
    env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ??
    env['OTEL_EXPORTER_OTLP_PROTOCOL'] ??
    'http/protobuf'
  ).trim();
  // The exporters read the endpoint, headers, timeout and compression from the OTEL_* variables.
  if (protocol === 'http/protobuf') {
    return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
  }
  if (protocol === 'http/json') {
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  }
  // gRPC to the collector's port 4317; an `http://` endpoint means plaintext, `https://` TLS.
  if (protocol === 'grpc') {
    return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  }
  throw new TracingConfigError(
    `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: use http/protobuf, http/json or grpc`,
  );
}

/** CloudEvents semantic-convention attributes (and the messaging message id) of one event. */
function eventAttributes(event: TracedEvent, into: Attributes): void {
  const attributes = event.event.attributes;
  const pairs: [string, unknown][] = [
    ['cloudevents.event_id', attributes['id']],
    ['cloudevents.event_source', attributes['source']],
    ['cloudevents.event_type', attributes['type']],
    ['cloudevents.event_spec_version', attributes['specversion']],
    ['cloudevents.event_subject', attributes['subject']],
    ['messaging.message.id', attributes['id']],
  ];
  for (const [key, value] of pairs) if (value !== undefined) into[key] = String(value);
}

function messagingAttributes(
  brokerName: string,
  operation: { type: string; name: string },
  events: readonly TracedEvent[],
): Attributes {
  const attributes: Attributes = {
    'messaging.system': 'herald',
    'messaging.operation.type': operation.type,
    'messaging.operation.name': operation.name,
    'messaging.destination.name': brokerName,
  };
  const first = events[0];
  if (events.length === 1 && first !== undefined) eventAttributes(first, attributes);
  else attributes['messaging.batch.message_count'] = events.length;
  return attributes;
}

/**
 * The route an ingress request was served by, as the router matched it (it ignores empty segments):
 * `/events//` is `/events`. The span name and `http.route` are low-cardinality by definition; the raw
 * path made every extra `/` a client sends an operation of its own in trace backends and span metrics.
 * Ingress is reached only through its static routes, so this is one of them.
 */
function routeOf(pathname: string): string {
  return `/${pathname.split('/').filter(Boolean).join('/')}`;
}

/**
 * Longest span attribute value (characters) when neither `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` nor
 * `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` sets one (the SDK's own default is none). Spans carry publisher
 * input (an event's subject, id, type and source; the User-Agent; the path): whole, a 1 MiB subject was a
 * 1 MiB attribute on the append span and on every delivery attempt's, held by the 2,048-span export queue
 * while the collector is away (gigabytes) and sent 512 to a request no collector takes.
 */
const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT = 4096;

/** Herald's limit, or undefined when a standard variable sets one (the SDK then reads it itself). */
function attributeValueLengthLimit(env: OtelEnvironment): number | undefined {
  const set = (name: string) => (env[name]?.trim() ?? '') !== '';
  return set('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') || set('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT')
    ? undefined
    : DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
}

function storedContext(carrier: TraceCarrier | undefined): Context | undefined {
  if (carrier?.['traceparent'] === undefined) return undefined;
  const extracted = w3c.extract(ROOT_CONTEXT, carrier, recordGetter);
  return trace.getSpanContext(extracted) === undefined ? undefined : extracted;
}

/**
 * The context an event was created in, as the CloudEvents Distributed Tracing extension carries it (its
 * `traceparent` and `tracestate` attributes); undefined without a valid one. It may differ from the
 * request's headers (a bridge from another transport, a batch of events from several traces): the
 * OpenTelemetry CloudEvents conventions link it, since it is the event's own trace, not the hop's.
 */
function extensionContext(event: TracedEvent): SpanContext | undefined {
  const { traceparent, tracestate } = event.event.attributes;
  if (typeof traceparent !== 'string') return undefined;
  const carrier: Record<string, string> = { traceparent };
  if (typeof tracestate === 'string') carrier['tracestate'] = tracestate;
  return trace.getSpanContext(w3c.extract(ROOT_CONTEXT, carrier, recordGetter));
}

class OtelTracing implements Tracing {
  readonly enabled = true;
  private readonly tracer;

  constructor(
    private readonly provider: NodeTracerProvider,
    private readonly brokerName: string,
  ) {
    this.tracer = provider.getTracer(SCOPE);
  }

  ingress<T>(req: IncomingMessage, res: ServerResponse, run: (span: IngressSpan) => Promise<T>): Promise<T> {
    const parent = w3c.extract(ROOT_CONTEXT, req.headers, incomingGetter);
    const url = new URL(req.url ?? '/', 'http://broker');
    const method = req.method ?? 'POST';
    const route = routeOf(url.pathname);
    const span = this.tracer.startSpan(
      `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'http.route': route,
          'url.path': url.pathname,
          'url.scheme': 'http',
          'network.protocol.version': req.httpVersion,
          ...(req.headers['user-agent'] === undefined
            ? {}
            : { 'user_agent.original': req.headers['user-agent'] }),
          ...(req.socket.localPort === undefined ? {} : { 'server.port': req.socket.localPort }),
        },
      },
      parent,
    );
    // The broker writes error answers after the handler threw: the span ends with the final status.
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    const spanContext = trace.setSpan(parent, span);
    const hooks: IngressSpan = {
      storedTrace: (captured) => {
        if (captured?.['traceparent'] !== undefined) return captured;
        const carrier: Record<string, string> = { ...captured };
        w3c.inject(spanContext, carrier, { set: (c, k, v) => (c[k] = v) });
        return carrier;
      },
      append: (events, append) => this.append(events, append),
    };
    return context.with(spanContext, async () => {
      try {
        return await run(hooks);
      } catch (error) {
        span.recordException(error as Error);
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string') span.setAttribute('error.type', code);
        throw error;
      }
    });
  }

  private async append<T>(events: readonly TracedEvent[], run: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan(`send ${this.brokerName}`, {
      kind: SpanKind.PRODUCER,
      attributes: messagingAttributes(this.brokerName, { type: 'send', name: 'append' }, events),
    });
    try {
      return await context.with(trace.setSpan(context.active(), span), run);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  }

  delivery(events: readonly TracedEvent[], target: DeliveryTarget): DeliverySpan {
    const first = events[0];
    // The parent is the producer's context stored with the event, so the trace crosses the log.
    const parent = storedContext(first?.trace) ?? ROOT_CONTEXT;
    const links: Link[] = [];
    for (const event of events.slice(1)) {
      const linked = storedContext(event.trace);
      const spanContext = linked === undefined ? undefined : trace.getSpanContext(linked);
      if (spanContext !== undefined) links.push({ context: spanContext });
    }
    // Each event's Distributed Tracing extension: the trace it was created in, linked once (a batch's
    // events often share one) and not when it is already the parent or a link above.
    const parentContext = trace.getSpanContext(parent);
    const same = (a: SpanContext, b: SpanContext | undefined) =>
      b !== undefined && a.traceId === b.traceId && a.spanId === b.spanId;
    for (const event of events) {
      const created = extensionContext(event);
      if (created === undefined || same(created, parentContext)) continue;
      if (links.some((link) => same(created, link.context))) continue;
      links.push({ context: created });
    }
    const attributes = messagingAttributes(this.brokerName, { type: 'send', name: 'deliver' }, events);
    attributes['messaging.consumer.group.name'] = target.subscription;
    attributes['http.request.method'] = target.method;
    attributes['url.full'] = target.sink;
    attributes['http.request.resend_count'] = target.attempt - 1;
    attributes['herald.subscription'] = target.subscription;
    attributes['herald.attempt'] = target.attempt;
    attributes['herald.content_mode'] = target.contentMode;
    if (target.deadLetterSink === true) attributes['herald.dead_letter_sink'] = true;
    if (first?.sequence !== undefined) attributes['herald.sequence'] = first.sequence;
    const span = this.tracer.startSpan(
      `deliver ${target.subscription}`,
      { kind: SpanKind.CLIENT, attributes, links },
      parent,
    );
    return {
      inject: (headers) => {
        delete headers['traceparent'];
        delete headers['tracestate'];
        w3c.inject(trace.setSpan(parent, span), headers, { set: (c, k, v) => (c[k] = v) });
      },
      end: (status, failure, message) => {
        if (status > 0) span.setAttribute('http.response.status_code', status);
        if (status < 200 || status >= 300) {
          span.setAttribute('error.type', status === 0 ? (failure ?? 'network') : String(status));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            ...(status === 0 && message !== undefined ? { message } : {}),
          });
        }
        span.end();
      },
    };
  }

  logFields(): Record<string, string> {
    const spanContext = trace.getSpanContext(context.active());
    if (spanContext === undefined) return {};
    return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
  }

  /** Flushes what is buffered; a collector that cannot be reached loses those spans, not the shutdown. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }
}

/** Builds the provider from the OTEL_* variables and registers it (context manager included). */
export async function createOtelTracing(env: OtelEnvironment, resource: TracingResource): Promise<Tracing> {
  const exporterNames = (env['OTEL_TRACES_EXPORTER'] ?? 'otlp')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '' && name !== 'none');
  const processors: BatchSpanProcessor[] = [];
  for (const name of exporterNames) processors.push(new BatchSpanProcessor(await exporterFor(name, env)));
  const lengthLimit = attributeValueLengthLimit(env);
  const provider = new NodeTracerProvider({
    ...(lengthLimit === undefined ? {} : { spanLimits: { attributeValueLengthLimit: lengthLimit } }),
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over Herald's defaults.
    resource: defaultResource()
      .merge(resourceFromAttributes({ 'service.name': 'herald', 'service.version': resource.serviceVersion }))
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: processors,
  });
  // Registers the AsyncLocalStorage context manager, so spans started during a request (the append)
  // and log lines find the request's span.
  provider.register({ propagator: w3c });
  return new OtelTracing(provider, resource.brokerName);
}
