// SPDX-License-Identifier: Apache-2.0
// The bench's closed-loop load generator against a real loopback node:http server in this process: what
// wrk sends is the template with a fresh id in every place of `ID`, and what it reports is what the
// server answered.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { watchCpuShare } from './cpu-share.js';
import { ID } from './events.js';
import { runWrk } from './wrk.js';

interface Received {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A loopback server answering every request with `status`, keeping the first `keep` requests. */
async function recordingServer(
  status: number,
  keep = 2_000,
): Promise<{ url: string; received: Received[]; count: () => number }> {
  const received: Received[] = [];
  let count = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      count++;
      if (received.length < keep)
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status, { 'content-length': 0 });
      res.end();
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, received, count: () => count };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('runWrk', () => {
  it('sends the template with a fresh UUID in place of every ID, and counts what the server answered', async () => {
    const server = await recordingServer(202);
    const template = {
      headers: {
        'content-type': 'application/cloudevents-batch+json',
        'ce-id': ID,
        'x-quoted': 'a"b\\c\u00e9',
      },
      body: `[{"id":"${ID}","n":"1.0"},{"id":"${ID}","data":"\u00e9\\\\"}]`,
    };
    const watch = watchCpuShare({});
    const own0 = process.cpuUsage();
    const started = performance.now();
    const result = await runWrk({ url: server.url, connections: 4, durationSec: 1, request: template });
    const share = watch.stop();
    const own = process.cpuUsage(own0);
    const ownCores = (own.user + own.system) / 1000 / (performance.now() - started);

    expect(result.non2xx).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    // The server may have read a request or two per connection that wrk stopped waiting for.
    expect(server.count()).toBeGreaterThanOrEqual(result.ok);
    expect(server.count() - result.ok).toBeLessThanOrEqual(4);
    expect(result.latencyMs.p50).toBeGreaterThan(0);
    expect(result.latencyMs.p99).toBeGreaterThanOrEqual(result.latencyMs.p50);

    const ids = new Set<string>();
    for (const { headers, body } of server.received) {
      expect(headers['content-type']).toBe('application/cloudevents-batch+json');
      expect(headers['x-quoted']).toBe(Buffer.from('a"b\\c\u00e9', 'utf8').toString('latin1'));
      const events = JSON.parse(body) as Array<{ id: string; n?: string; data?: string }>;
      expect(events).toHaveLength(2);
      expect(events[0]?.n).toBe('1.0');
      expect(events[1]?.data).toBe('\u00e9\\');
      for (const id of [headers['ce-id'] as string, events[0]?.id ?? '', events[1]?.id ?? '']) {
        expect(id).toMatch(UUID);
        ids.add(id);
      }
    }
    expect(ids.size).toBe(server.received.length * 3);
    // wrk's CPU time is counted as the load generator's, beside this process's (the server's here).
    expect(share.loadGenerator - ownCores).toBeGreaterThan(0.05);
  });

  it('never repeats an id across two runs', async () => {
    const server = await recordingServer(202, Number.POSITIVE_INFINITY);
    const request = { headers: { 'content-type': 'application/json' }, body: `{"id":"${ID}"}` };
    await runWrk({ url: server.url, connections: 2, durationSec: 1, request });
    const first = server.received.length;
    await runWrk({ url: server.url, connections: 2, durationSec: 1, request });
    expect(server.received.length).toBeGreaterThan(first);
    const ids = server.received.map(({ body }) => (JSON.parse(body) as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('counts responses of 400 or more as failed, not as ok', async () => {
    const server = await recordingServer(503);
    const result = await runWrk({
      url: server.url,
      connections: 2,
      durationSec: 1,
      request: { headers: {}, body: 'x' },
    });
    expect(result.ok).toBe(0);
    expect(result.non2xx).toBeGreaterThan(10);
  });
});
