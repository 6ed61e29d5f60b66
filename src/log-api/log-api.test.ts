import type http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonEvent, serveLogApi } from './testing/serve-log-api.js';
import type { ServedLogApi } from './testing/serve-log-api.js';

/** 25 events of ~900 KB: one page of them is ~22 MB, more than loopback socket buffers take. */
const EVENTS = 25;
const MAX_PAGE_READS = 3;
const MAX_PAGE_READS_PER_CLIENT = 2;

let served: ServedLogApi;
let port: number;
const limits: string[] = [];
const count = (limit: string) => limits.filter((l) => l === limit).length;

beforeAll(async () => {
  const data = JSON.stringify({ pad: 'x'.repeat(900_000) });
  served = await serveLogApi(
    async (store) => {
      for (let i = 0; i < EVENTS; i++) await store.append([jsonEvent(`e${i}`, data, 'com.example.big')]);
    },
    {
      maxPageReads: MAX_PAGE_READS,
      maxPageReadsPerClient: MAX_PAGE_READS_PER_CLIENT,
      clientKey: (req) => String(req.headers['x-client'] ?? 'anonymous'),
      writeTimeoutMs: 1_000,
      onLimit: (limit) => limits.push(limit),
    },
  );
  port = served.port;
});

afterAll(() => served.close());

/**
 * A client that sends `path`, takes the first bytes of the answer (so the broker is writing it) and
 * then stops reading. `readRest` reads on to the end of the connection and gives the bytes received.
 */
async function stalledReader(path: string, client: string): Promise<{ readRest: () => Promise<number> }> {
  const socket = net.connect(port, '127.0.0.1');
  let received = 0;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.pause();
      resolve();
    });
    socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-client: ${client}\r\n\r\n`);
  });
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', () => undefined); // the broker destroying it is the point
  return {
    readRest: async () => {
      socket.resume();
      await closed;
      return received;
    },
  };
}

/** Waits until `condition` holds (what is awaited is the broker's decision, not a duration). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Bytes of the whole answer to `/events?from=1&limit=1000` (all events) that a reader would get. */
const WHOLE_PAGE = EVENTS * 900_000;

async function get(
  path: string,
  client = 'anonymous',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-client': client } });
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers) as http.IncomingHttpHeaders,
    body: await response.text(),
  };
}

describe('log API against readers that never read', () => {
  it('GET /events: pages past --max-log-reads get 503 with Retry-After; stalled pages are destroyed after --log-write-timeout and their slots freed', async () => {
    const stalled = [];
    for (let i = 0; i < MAX_PAGE_READS; i++)
      stalled.push(await stalledReader('/events?from=1&limit=1000', `client-${i}`));

    const refused = await get('/events?from=1&limit=1000');
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'HERALD_LOG_READ_CAPACITY' });
    expect(count('max-log-reads')).toBe(1);

    // The broker gives up on each reader that stopped reading: none gets the whole page.
    await until(() => count('log-write-timeout') === MAX_PAGE_READS);
    for (const reader of stalled) expect(await reader.readRest()).toBeLessThan(WHOLE_PAGE);

    // Their slots are free again: a reader that reads gets the whole page, sent a chunk at a time.
    const page = await get('/events?from=1&limit=1000');
    expect(page.status).toBe(200);
    const parsed = JSON.parse(page.body) as { events: { sequence: number }[]; next: number };
    expect(parsed.events.map((e) => e.sequence)).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    expect(parsed.next).toBe(EVENTS + 1);
  });

  it('GET /events: one client past --max-log-reads-per-client gets 429 while another still reads', async () => {
    const greedy = [];
    for (let i = 0; i < MAX_PAGE_READS_PER_CLIENT; i++)
      greedy.push(await stalledReader('/events?from=1&limit=1000', 'greedy'));
    const refused = await get('/events?from=1&limit=1000', 'greedy');
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'HERALD_TOO_MANY_LOG_READS' });
    expect(count('max-log-reads-per-client')).toBe(1);
    expect((await get('/events?from=1&limit=2', 'modest')).status).toBe(200);
    await until(() => count('log-write-timeout') >= MAX_PAGE_READS + MAX_PAGE_READS_PER_CLIENT);
    for (const reader of greedy) await reader.readRest();
  });

  it('GET /events: a page that fits in one chunk is answered with a Content-Length, as before', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/events?from=${EVENTS + 1}`);
    expect(response.headers.get('content-length')).not.toBeNull();
    expect(await response.json()).toEqual({ events: [], next: EVENTS + 1 });
  });

  it('GET /events/stream: a stream whose reader stops reading is destroyed after --log-write-timeout', async () => {
    const before = count('log-write-timeout');
    const reader = await stalledReader('/events/stream?from=1', 'streamer');
    await until(() => count('log-write-timeout') === before + 1);
    expect(await reader.readRest()).toBeLessThan(WHOLE_PAGE);
  });
});
