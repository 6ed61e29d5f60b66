// What a log reader that stops reading holds of the broker's memory (docs/limits.md, "Log reads"): about
// one chunk and one event, not the page of events the broker read from the store to write to it.
import type http from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonEvent, serveLogApi } from './testing/serve-log-api.js';
import type { ServedLogApi } from './testing/serve-log-api.js';

/** 64 events (one store read) of ~900 KB, each appended (and stored) on its own. */
const EVENTS = 64;
const EVENT_BYTES = 900_000;
/** Stalled readers of each route. */
const READERS = 4;
/** The chunk size the log API writes in. */
const WRITE_CHUNK = 64 * 1024;
/**
 * What one stalled reader may hold: twice what docs/limits.md promises (a chunk and an event), for the
 * bookkeeping around them. A reader that holds what the broker read for it holds ~EVENTS events.
 */
const PER_READER_BUDGET = 2 * (WRITE_CHUNK + EVENT_BYTES);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
v8.setFlagsFromString('--no-expose-gc');

let served: ServedLogApi;
let port: number;
const responses: http.ServerResponse[] = [];
const sockets: net.Socket[] = [];

beforeAll(async () => {
  const data = JSON.stringify({ pad: 'x'.repeat(EVENT_BYTES) });
  served = await serveLogApi(
    async (store) => {
      for (let i = 0; i < EVENTS; i++) await store.append([jsonEvent(`e${i}`, data, 'com.example.big')]);
    },
    {
      bounds: { maxWork: 1_000_000_000, maxTimeMs: 60_000 },
      // Longer than the test: the readers are measured while they hold their responses.
      writeTimeoutMs: 120_000,
      heartbeatMs: 60_000,
    },
    // Opened again, the store reads these events from its blocks, a copy per read (the window of recent
    // events it serves from memory, shared by all readers, starts empty).
    true,
  );
  served.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => responses.push(res));
  port = served.port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await served.close();
});

/**
 * Bytes of the test process's memory that outlive full collections. Twice, a turn of the event loop
 * apart: V8 frees the memory of dead array buffers after a collection, not during it.
 */
async function retained(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** A client that sends `path` and never reads a byte of the answer. */
function stalledReader(path: string): void {
  const socket = net.connect(port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  sockets.push(socket);
}

/** Waits until the broker is waiting for every one of `count` new readers to take what it wrote. */
async function untilAllWaiting(first: number, count: number): Promise<void> {
  const waiting = () =>
    responses.length >= first + count && responses.slice(first).every((res) => res.writableNeedDrain);
  while (!waiting()) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('a log reader that stops reading', () => {
  for (const path of ['/events/stream?from=1', '/events?from=1&limit=1000']) {
    it(`holds about one chunk and one event of memory, not a page: GET ${path}`, async () => {
      const before = await retained();
      const first = responses.length;
      for (let i = 0; i < READERS; i++) stalledReader(path);
      await untilAllWaiting(first, READERS);
      const held = (await retained()) - before;
      expect(
        held,
        `${READERS} stalled readers hold ${Math.round(held / 1e6)} MB (an event is ${EVENT_BYTES / 1e6} MB)`,
      ).toBeLessThan(READERS * PER_READER_BUDGET);
      // Gone before the next case measures what it starts from.
      for (const socket of sockets.splice(0)) socket.destroy();
      while (!responses.every((res) => res.destroyed || res.writableFinished))
        await new Promise((resolve) => setTimeout(resolve, 50));
    });
  }
});
