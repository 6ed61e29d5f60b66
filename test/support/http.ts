// HTTP helpers for the broker integration tests: a raw client that can send exactly the headers a case
// needs (repeated names, latin1 bytes, chunked bodies), and readers of the log API.
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { sleep } from '../infra/process.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  text(): string;
  json<T = Record<string, unknown>>(): T;
}

export interface RawRequest {
  readonly method?: string;
  readonly path?: string;
  /** A value array sends the header once per element (a repeated header). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Uint8Array;
  /** Send the body with `Transfer-Encoding: chunked` (no `Content-Length`). */
  readonly chunked?: boolean;
  /** Defaults to a fresh connection per request (`agent: false`). */
  readonly agent?: http.Agent | false;
}

/** Sends one request with node:http and buffers the whole response. */
export function send(baseUrl: string, request: RawRequest = {}): Promise<RawResponse> {
  const url = new URL(request.path ?? '/events', baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: request.method ?? 'POST', agent: request.agent ?? false });
    for (const [name, value] of Object.entries(request.headers ?? {})) req.setHeader(name, value);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: () => body.toString('utf8'),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        });
      });
    });
    // A server may answer (413) and close before it has read the whole body; only an error before the
    // answer is a failure.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    if (body === undefined) req.end();
    else if (request.chunked === true) {
      const half = Math.floor(body.byteLength / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else {
      req.setHeader('content-length', body.byteLength);
      req.end(body);
    }
  });
}

/** The required attributes as binary-mode headers. */
export function binaryHeaders(id: string, extra: Record<string, string | readonly string[]> = {}) {
  return {
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-source': '/herald/tests',
    'ce-type': 'dev.herald.test',
    ...extra,
  };
}

export type JsonEvent = Record<string, unknown>;

export interface LogEntry {
  readonly sequence: number;
  readonly event: JsonEvent;
}

export interface LogPage {
  readonly events: LogEntry[];
  readonly next: number;
}

export async function getLogPage(
  adminUrl: string,
  from = 1,
  limit = 1000,
  headers: Record<string, string> = {},
): Promise<LogPage> {
  const response = await fetch(`${adminUrl}/events?from=${from}&limit=${limit}`, { headers });
  if (response.status !== 200)
    throw new Error(`GET /events answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as LogPage;
}

/** The whole log, page by page. */
export async function readLog(adminUrl: string, headers: Record<string, string> = {}): Promise<LogEntry[]> {
  const all: LogEntry[] = [];
  let from = 1;
  for (;;) {
    const page = await getLogPage(adminUrl, from, 1000, headers);
    if (page.events.length === 0) return all;
    all.push(...page.events);
    from = page.next;
  }
}

/** The stored event with this id (and source, when given); throws unless there is exactly one. */
export async function findEvent(adminUrl: string, id: string, source?: string): Promise<LogEntry> {
  const matches = (await readLog(adminUrl)).filter(
    (entry) => entry.event['id'] === id && (source === undefined || entry.event['source'] === source),
  );
  if (matches.length !== 1)
    throw new Error(`expected one stored event with id ${id}, found ${matches.length}`);
  return matches[0]!;
}

/** Reads a Prometheus sample value (`name{labels} value`); undefined when absent. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** One `sleep` for every test helper (test/infra/process.ts). */
export { sleep };
