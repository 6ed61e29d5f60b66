// Tests of the log routes over real HTTP, against a real embedded store, without a whole broker.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataKind } from '../../cloudevents/index.js';
import type { CloudEvent } from '../../cloudevents/index.js';
import { HeraldError } from '../../errors/index.js';
import { Router } from '../../http/index.js';
import { serveRouter } from '../../http/testing/serve-router.js';
import { EmbeddedEventStore } from '../../store/embedded/index.js';
import { registerLogApi } from '../log-api.js';
import type { LogApiOptions } from '../log-api.js';

/** An event whose data is the JSON text `data` (kept as it is, line breaks included). */
export function jsonEvent(id: string, data: string, type = 'com.example.log'): { event: CloudEvent } {
  return {
    event: {
      attributes: { specversion: '1.0', id, type, source: '/test' },
      data: new TextEncoder().encode(data),
      dataKind: DataKind.Json,
    },
  };
}

export interface ServedLogApi {
  readonly store: EmbeddedEventStore;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /** Ends the streams (as broker shutdown does), the server, the store and its directory. */
  close(): Promise<void>;
}

/**
 * The log routes on a free loopback port over an embedded store in a new directory, filled by `fill`
 * (`reopen`: the store is opened again before it serves, so reads come from its blocks, not from the
 * window of recent events it keeps in memory). Filters are refused; `options` adds to or replaces the
 * rest of the route options.
 */
export async function serveLogApi(
  fill: (store: EmbeddedEventStore) => Promise<void>,
  options: Partial<Omit<LogApiOptions, 'store' | 'shutdown'>> = {},
  reopen = false,
): Promise<ServedLogApi> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-log-api-'));
  const open = () =>
    new EmbeddedEventStore({ dataDir: dir, durability: 'buffered', maintenanceIntervalMs: 0 });
  let store = open();
  await fill(store);
  if (reopen) {
    await store.close();
    store = open();
  }
  const shutdown = new AbortController();
  const router = new Router();
  registerLogApi(router, {
    compileFilter: () => {
      throw new HeraldError('HERALD_INVALID_QUERY', 'no filters here');
    },
    bounds: { maxWork: 100_000_000, maxTimeMs: 60_000 },
    ...options,
    store,
    shutdown: shutdown.signal,
  });
  const server = await serveRouter(router);
  const port = (server.address() as AddressInfo).port;
  const served = store;
  return {
    store: served,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      shutdown.abort();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
