import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * OpenTelemetry tracing seam. Ingress and the dispatcher call these hooks; when no `OTEL_*` variable
 * turns tracing on they are no-ops and `@opentelemetry/*` is never loaded (`./otel.ts` is imported
 * only by `startTracing`).
 *
 * The active implementation is process-wide, like OpenTelemetry's own global provider: the process
 * entry point (`herald broker`) installs it once, so the data-plane modules need no extra wiring.
 */

/** Trace context headers as the store keeps them beside an event (`traceparent`, `tracestate`, …). */
export type TraceCarrier = Readonly<Record<string, string>>;

/** What a span needs to know about one event: its CloudEvents attributes and stored trace context. */
export interface TracedEvent {
  readonly sequence?: number;
  readonly event: { readonly attributes: Readonly<Record<string, unknown>> };
  readonly trace?: TraceCarrier | undefined;
}

/** The server span of one ingress request. */
export interface IngressSpan {
  /**
   * The trace context to store with the request's events: the producer's headers, or, when the
   * request carried no `traceparent`, the ingress span's own context so delivery continues this trace.
   */
  storedTrace(captured: TraceCarrier | undefined): TraceCarrier | undefined;
  /** Runs the durable append as a child (producer) span of the ingress span. */
  append<T>(events: readonly TracedEvent[], run: () => Promise<T>): Promise<T>;
}

export interface DeliveryTarget {
  readonly subscription: string;
  readonly sink: string;
  readonly method: string;
  readonly attempt: number;
  readonly contentMode: string;
  /** True for an attempt to send a dead letter to the subscription's `deadLetterSink`. */
  readonly deadLetterSink?: boolean;
}

/** The client span of one delivery attempt. */
export interface DeliverySpan {
  /** Replaces the outgoing `traceparent`/`tracestate` with this span's context. */
  inject(headers: Record<string, string>): void;
  /**
   * Ends the span with the sink's status, or 0 and why no answer came (`failure`: timeout, network, …,
   * with the transport's message).
   */
  end(status: number, failure?: string, message?: string): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Runs an ingress request inside its server span; the span ends when the response is finished. */
  ingress<T>(req: IncomingMessage, res: ServerResponse, run: (span: IngressSpan) => Promise<T>): Promise<T>;
  delivery(events: readonly TracedEvent[], target: DeliveryTarget): DeliverySpan;
  /** Fields every log line carries while a span is active (`trace_id`, `span_id`); a fresh object. */
  logFields(): Record<string, string>;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

const noIngressSpan: IngressSpan = {
  storedTrace: (captured) => captured,
  append: (_events, run) => run(),
};
const noDeliverySpan: DeliverySpan = { inject: () => undefined, end: () => undefined };

export const noTracing: Tracing = {
  enabled: false,
  ingress: (_req, _res, run) => run(noIngressSpan),
  delivery: () => noDeliverySpan,
  logFields: () => ({}),
  shutdown: () => Promise.resolve(),
};

let active: Tracing = noTracing;

/** The process's tracing (a no-op until `startTracing` turned it on). */
export function tracing(): Tracing {
  return active;
}

/** Environment variables as the OpenTelemetry specification names them. */
export type OtelEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * True when the standard variables ask for traces: `OTEL_TRACES_EXPORTER` set to anything but
 * `none`, or an OTLP endpoint given. `OTEL_SDK_DISABLED=true` wins over both.
 */
export function tracingRequested(env: OtelEnvironment): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  const exporters = env['OTEL_TRACES_EXPORTER']?.trim();
  if (exporters !== undefined && exporters !== '') {
    return exporters.split(',').some((name) => name.trim() !== 'none');
  }
  return Boolean(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_ENDPOINT']);
}

export interface TracingResource {
  readonly serviceVersion: string;
  /** `messaging.destination.name` of every span: the broker this process serves. */
  readonly brokerName: string;
}

/** Problems with the `OTEL_*` configuration (an unsupported protocol or exporter). */
export class TracingConfigError extends Error {
  override readonly name = 'TracingConfigError';
}

/**
 * Turns tracing on when the environment asks for it (see `tracingRequested`) and installs it as the
 * process's tracing. Throws `TracingConfigError` for values Herald cannot honour.
 */
export async function startTracing(env: OtelEnvironment, resource: TracingResource): Promise<Tracing> {
  if (!tracingRequested(env)) return noTracing;
  const { createOtelTracing } = await import('./otel.js');
  active = await createOtelTracing(env, resource);
  return active;
}

/** Restores the no-op tracing (after `shutdown`). */
export function resetTracing(): void {
  active = noTracing;
}

/** The W3C trace id in a stored `traceparent`, for log lines about an event; undefined without one. */
export function traceIdOf(trace: TraceCarrier | undefined): string | undefined {
  const traceparent = trace?.['traceparent'];
  if (traceparent === undefined) return undefined;
  const match = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}/.exec(traceparent.trim());
  return match?.[1];
}
