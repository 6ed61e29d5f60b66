// A real OTLP trace receiver in its own process, for the tracing tests. It accepts OTLP/HTTP
// POST /v1/traces in both encodings (application/x-protobuf and application/json) and OTLP/gRPC
// (opentelemetry.proto.collector.trace.v1.TraceService/Export, plaintext, on a port of its own), decodes
// the spans and keeps them; GET /spans answers them as JSON. Prints {"port": N, "grpcPort": M} on its
// first stdout line.
// The protobuf schema is the subset of opentelemetry-proto's trace service that spans need (field
// numbers as upstream: opentelemetry/proto/collector/trace/v1 and trace/v1, common/v1, resource/v1).
import { createServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const { root } = protobuf.parse(`
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Link links = 13; Status status = 15;
}
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`);
const ExportTraceServiceRequest = root.lookupType('ExportTraceServiceRequest');

/** Span kinds as OTLP numbers them. */
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

/** OTLP/JSON writes ids as hex; protobufjs's toObject gives base64. */
function id(value) {
  if (value === undefined || value === null || value === '') return '';
  if (/^[\da-f]+$/i.test(value) && (value.length === 32 || value.length === 16)) return value.toLowerCase();
  return Buffer.from(value, 'base64').toString('hex');
}

function anyValue(value) {
  if (value === undefined || value === null) return null;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(anyValue);
  return JSON.stringify(value);
}

function attributes(list) {
  const out = {};
  for (const { key, value } of list ?? []) out[key] = anyValue(value);
  return out;
}

const spans = [];
const requests = { protobuf: 0, json: 0, grpc: 0 };

function record(request, encoding) {
  requests[encoding]++;
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributes(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          encoding,
          service: resource['service.name'] ?? null,
          scope: scopeSpans.scope?.name ?? null,
          traceId: id(span.traceId),
          spanId: id(span.spanId),
          parentSpanId: id(span.parentSpanId),
          name: span.name,
          kind:
            typeof span.kind === 'number' ? KINDS[span.kind] : String(span.kind).replace('SPAN_KIND_', ''),
          attributes: attributes(span.attributes),
          links: (span.links ?? []).map((link) => ({ traceId: id(link.traceId), spanId: id(link.spanId) })),
          status: span.status?.code ?? 0,
        });
      }
    }
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const server = createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.method === 'POST' && req.url === '/v1/traces') {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    try {
      if (type === 'application/x-protobuf') {
        const message = ExportTraceServiceRequest.decode(body);
        record(
          ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String, defaults: false }),
          'protobuf',
        );
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } else if (type === 'application/json') {
        record(JSON.parse(body.toString('utf8')), 'json');
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(415).end();
      }
    } catch (error) {
      res.writeHead(400).end(String(error));
    }
    return;
  }
  if (req.method === 'GET' && req.url === '/spans') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ spans, requests }));
    return;
  }
  res.writeHead(404).end();
});

/** ExportTraceServiceRequest as protobuf bytes, decoded as the HTTP protobuf path decodes it. */
function decodeRequest(bytes) {
  const message = ExportTraceServiceRequest.decode(bytes);
  return ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String, defaults: false });
}

const grpcServer = new grpc.Server();
grpcServer.addService(
  {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestDeserialize: decodeRequest,
      requestSerialize: () => Buffer.alloc(0),
      // ExportTraceServiceResponse with no partial_success: the empty message.
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: () => ({}),
    },
  },
  {
    Export: (call, callback) => {
      record(call.request, 'grpc');
      callback(null, {});
    },
  },
);

server.listen(0, '127.0.0.1', () => {
  grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, grpcPort) => {
    if (error) throw error;
    process.stdout.write(JSON.stringify({ port: server.address().port, grpcPort }) + '\n');
  });
});
// Exit with the test process that started us (an orphan is re-parented).
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
process.on('SIGTERM', () => {
  grpcServer.forceShutdown();
  server.close(() => process.exit(0));
});
