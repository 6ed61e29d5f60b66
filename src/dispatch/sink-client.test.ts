import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SinkGuard } from '../sink-guard/index.js';
import type { Resolver } from '../sink-guard/index.js';
import { DataKind } from '../cloudevents/index.js';
import type { StoredEvent } from '../store/index.js';
import { SinkClient, buildDelivery } from './sink-client.js';

/**
 * The connect-time check with an injected resolver (no DNS, no /etc/hosts): a name that resolved to
 * an allowed address is refused as soon as it resolves to a denied one, and a name is refused when
 * any of its addresses is denied.
 */
describe('SinkClient with the sink guard', () => {
  let server: Server;
  let port = 0;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      // No keep-alive: every attempt opens (and checks) a new connection.
      res.writeHead(200, { connection: 'close' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('checks every resolution, so re-pointing a name at a denied address is refused', async () => {
    let answer = [{ address: '127.0.0.1', family: 4 }];
    const resolved: string[] = [];
    const resolver: Resolver = (hostname, _options, callback) => {
      resolved.push(hostname);
      callback(null, answer);
    };
    const guard = new SinkGuard({ deny: ['loopback', 'link-local'], allow: ['127.0.0.1/32'], resolver });
    const client = new SinkClient({ guard });
    const send = () =>
      client.send({
        url: `http://rebind.test:${port}/`,
        method: 'POST',
        headers: {},
        body: 'x',
        timeoutMs: 5_000,
      });
    try {
      expect((await send()).status).toBe(200);
      answer = [{ address: '127.0.0.3', family: 4 }];
      const refused = await send();
      expect(refused).toMatchObject({ status: 0, failure: 'forbidden' });
      expect(refused.detail).toContain('127.0.0.3');
      // An allowed address next to a denied one does not make the name acceptable.
      answer = [
        { address: '127.0.0.1', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ];
      expect(await send()).toMatchObject({ status: 0, failure: 'forbidden' });
      expect(requests).toBe(1);
      expect(resolved.length).toBeGreaterThanOrEqual(3);
    } finally {
      await client.close();
    }
  });

  it('refuses literal addresses before connecting', async () => {
    const before = requests;
    const client = new SinkClient({ guard: new SinkGuard({ deny: ['loopback'], allow: [] }) });
    try {
      const response = await client.send({
        url: `http://[::ffff:127.0.0.1]:${port}/`,
        method: 'POST',
        headers: {},
        body: 'x',
        timeoutMs: 5_000,
      });
      expect(response).toMatchObject({ status: 0, failure: 'forbidden' });
      expect(requests).toBe(before);
    } finally {
      await client.close();
    }
  });

  it('close() aborts attempts in flight instead of waiting for them (#11 finding 6)', async () => {
    const hanging = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const client = new SinkClient();
    try {
      const pending = client.send({
        url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/`,
        method: 'POST',
        headers: {},
        body: 'x',
        timeoutMs: 86_400_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await client.close();
      expect(await pending).toMatchObject({ status: 0, failure: 'shutdown' });
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });
});

/**
 * `responseLimit` (`--sink-response-limit`, in bytes) caps what is read of a sink's answer: past it the
 * connection is dropped, so a sink streaming a long body is cut off there instead of being read whole.
 */
describe('SinkClient reading a long answer', () => {
  it('reads a 64 MiB answer only up to a 1 MiB responseLimit, then drops the connection', async () => {
    const total = 64 * 1024 * 1024;
    let finished: (whole: boolean) => void = () => undefined;
    const served = new Promise<boolean>((resolve) => (finished = resolve));
    const sink = createServer((req, res) => {
      req.resume();
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let left = total;
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': String(total) });
      // At the reader's pace: the body is only ever produced as fast as the client takes it.
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.once('finish', () => finished(true));
      res.once('close', () => finished(res.writableFinished));
      pump();
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    let truncated = 0;
    const client = new SinkClient({ responseLimit: 1024 * 1024, onTruncated: () => truncated++ });
    try {
      const response = await client.send({
        url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
        method: 'POST',
        headers: {},
        body: 'x',
        timeoutMs: 60_000,
      });
      expect(response).toMatchObject({ status: 500, failure: undefined });
      expect(truncated).toBe(1);
      // The sink could not send its whole answer: the broker closed the connection first.
      expect(await served).toBe(false);
    } finally {
      await client.close();
      sink.closeAllConnections();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
  });
});

/**
 * `protocolsettings.headers` are added to a delivery, never put in place of its own: a definition stored
 * before validation refused `ce-*` and `herald-*` names cannot forge an attribute or the metadata.
 */
describe('buildDelivery with configured headers', () => {
  const stored: StoredEvent = {
    sequence: 7,
    storedAt: 0,
    event: {
      attributes: { specversion: '1.0', id: 'e1', source: '/s', type: 'com.example.real' },
      data: new TextEncoder().encode('x'),
      dataKind: DataKind.Text,
    },
    trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  };
  const configured = {
    'CE-Type': 'forged',
    'ce-forgedext': 'yes',
    'Herald-Batch-Size': '99',
    traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
    'X-Team': 'orders',
  };

  it.each(['binary', 'structured', 'batch'] as const)('%s mode keeps the event its own', (mode) => {
    const { headers } = buildDelivery([stored], mode, configured);
    expect(headers['x-team']).toBe('orders');
    expect(headers['ce-forgedext']).toBeUndefined();
    expect(headers['herald-batch-size']).toBeUndefined();
    expect(headers['traceparent']).toBe(stored.trace?.traceparent);
    expect(headers['ce-type']).toBe(mode === 'binary' ? 'com.example.real' : undefined);
  });
});
