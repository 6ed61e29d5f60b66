import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logger.js';
import { noTracing, resetTracing, startTracing, traceIdOf, tracing, tracingRequested } from './tracing.js';

describe('tracingRequested: off unless the standard OTEL_* variables ask for traces', () => {
  it.each([
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'herald' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
  ])('%j → %s', (env, expected) => {
    expect(tracingRequested(env)).toBe(expected);
  });

  it('without them startTracing keeps the no-op tracing and loads nothing', async () => {
    expect(await startTracing({}, { serviceVersion: '0', brokerName: 'b' })).toBe(noTracing);
    expect(tracing()).toBe(noTracing);
  });

  it('refuses a protocol it cannot export with', async () => {
    await expect(
      startTracing(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' },
        { serviceVersion: '0', brokerName: 'b' },
      ),
    ).rejects.toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL=thrift is not supported: use http\/protobuf, http\/json or grpc/,
    );
    resetTracing();
  });
});

describe('traceIdOf', () => {
  it('reads the trace id of a stored W3C traceparent', () => {
    expect(traceIdOf({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
    expect(traceIdOf({ traceparent: 'garbage' })).toBeUndefined();
    expect(traceIdOf(undefined)).toBeUndefined();
  });
});

describe('log lines inside a traced ingress request carry its trace_id', () => {
  afterAll(async () => {
    await tracing().shutdown();
    resetTracing();
    vi.unstubAllEnvs();
  });

  it('the request span continues the caller trace and the logger adds trace_id and span_id', async () => {
    // An exporter pointed at a closed loopback port: spans are made, exports fail quietly. The
    // exporters read their settings from the process environment, as the SDK specifies.
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://127.0.0.1:9');
    vi.stubEnv('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json');
    await startTracing(process.env, { serviceVersion: '0', brokerName: 'b' });
    expect(tracing().enabled).toBe(true);
    const output = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    output.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
    });
    const logger = createLogger('info', {}, output);
    const server = createServer((req, res) => {
      void tracing().ingress(req, res, async (span) => {
        logger.info({ stored: span.storedTrace(undefined) }, 'inside the request');
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      logger.info('outside any request');
    } finally {
      server.close();
    }
    const inside = lines.find((l) => l['msg'] === 'inside the request')!;
    expect(inside['trace_id']).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(inside['span_id']).toMatch(/^[\da-f]{16}$/);
    expect(inside['span_id']).not.toBe('b7ad6b7169203331');
    const outside = lines.find((l) => l['msg'] === 'outside any request')!;
    expect(outside['trace_id']).toBeUndefined();
  });
});
