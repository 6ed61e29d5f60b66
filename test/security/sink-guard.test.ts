// Acceptance (#10 point 3): the sink guard refuses every spelling of a denied address at create time
// with 400 HERALD_SINK_FORBIDDEN and changes nothing; at delivery it checks the address actually
// connected to (a stored subscription whose name or address became denied delivers nothing: the
// listening local sink counts zero requests); the broker's own ports are always refused; redirects
// are never followed.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { metricValue, publish, requestJson, sleep, subscribe, waitForStatus } from '../harness/client.js';
import { cases } from './hostile-cases/sinks.js';
import { startHostileSink } from './support/hostile-sink.js';
import type { HostileSink } from './support/hostile-sink.js';

async function subscriptionCount(broker: BrokerProcess): Promise<number> {
  return (await requestJson<unknown[]>('GET', `${broker.url}/subscriptions`)).body.length;
}

describe('sink guard: hostile addresses at create time (default policy, test allowance 127.0.0.1/32)', () => {
  let broker: BrokerProcess;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker.stop();
    removeDir(broker.dataDir);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, hostile) => {
    const before = await subscriptionCount(broker);
    const response = await fetch(`${broker.url}${hostile.request.path}`, {
      method: hostile.request.method,
      headers: { 'content-type': 'application/json', ...hostile.request.headers },
      ...(hostile.request.body === undefined ? {} : { body: JSON.stringify(hostile.request.body) }),
    });
    const problem = (await response.json()) as { code: string };
    expect(response.status).toBe(hostile.expect.status);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(problem.code).toBe(hostile.expect.code);
    expect(await subscriptionCount(broker)).toBe(before);
  });

  it('counts the refusals in /metrics', async () => {
    expect(await metricValue(broker.url, 'herald_sink_guard_refusals_total')).toBeGreaterThan(0);
  });
});

describe('sink guard: the 127.0.0.1 spellings of a listening sink, without an allowance', () => {
  let broker: BrokerProcess;
  let sink: SinkProcess;
  beforeAll(async () => {
    [broker, sink] = await Promise.all([startBroker({ args: ['--sink-allow', ''] }), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), sink.stop()]);
    removeDir(broker.dataDir);
  });

  it('refuses every spelling and the sink receives nothing', async () => {
    const port = new URL(sink.url).port;
    const spellings = [
      '127.0.0.1',
      '127.1',
      '0x7f.1',
      '0x7f000001',
      '2130706433',
      '017700000001',
      '127.0.0.1.',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[::127.0.0.1]',
      'localhost',
    ];
    for (const host of spellings) {
      const response = await requestJson<{ code: string }>('POST', `${broker.url}/subscriptions`, {
        sink: `http://${host}:${port}/`,
        protocol: 'HTTP',
      });
      expect([host, response.status, response.body.code]).toEqual([host, 400, 'HERALD_SINK_FORBIDDEN']);
    }
    await publish(broker.url, { id: 'nobody-listens' });
    await sleep(500);
    expect(await sink.received()).toHaveLength(0);
    expect(await subscriptionCount(broker)).toBe(0);
  });
});

describe("sink guard: the broker's own listeners", () => {
  it('are refused even when loopback is allowed', async () => {
    const broker = await startBroker({ args: ['--sink-allow', '127.0.0.0/8,::1', '--admin-port', '0'] });
    try {
      for (const base of [broker.url, broker.adminUrl]) {
        const port = new URL(base).port;
        for (const sink of [
          `http://127.0.0.1:${port}/events`,
          `http://localhost:${port}/`,
          `http://0.0.0.0:${port}/`,
        ]) {
          const response = await requestJson<{ code: string }>('POST', `${broker.adminUrl}/subscriptions`, {
            sink,
            protocol: 'HTTP',
          });
          expect([sink, response.status, response.body.code]).toEqual([sink, 400, 'HERALD_SINK_FORBIDDEN']);
        }
      }
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

describe('sink guard: at connect time', () => {
  let sink: SinkProcess;
  beforeAll(async () => {
    sink = await startSink();
  });
  afterAll(async () => {
    await sink.stop();
  });

  it('a stored subscription whose name and address became denied delivers nothing (no rebinding)', async () => {
    const port = new URL(sink.url).port;
    // Created while loopback was allowed: one by name (localhost), one by literal address.
    const permissive = await startBroker({ args: ['--sink-allow', '127.0.0.0/8,::1'] });
    const dataDir = permissive.dataDir;
    const byName = await subscribe(permissive.url, { sink: `http://localhost:${port}/by-name` });
    const byAddress = await subscribe(permissive.url, { sink: `http://127.0.0.1:${port}/by-address` });
    await publish(permissive.url, { id: 'allowed-then' });
    await sink.waitFor((records) => records.length === 2);
    await permissive.stop();
    await sink.clear();

    // The same store under the default policy, without the allowance.
    const strict = await startBroker({ dataDir, args: ['--sink-allow', ''] });
    try {
      await publish(strict.url, { id: 'denied-now' });
      for (const { id } of [byName, byAddress]) {
        const status = await waitForStatus(strict.url, id, (s) => s.lastError !== null);
        expect(status.state).toBe('failing');
        expect((status.lastError as { code: string }).code).toBe('HERALD_SINK_FORBIDDEN');
      }
      expect(await sink.received()).toHaveLength(0);
      expect(
        await metricValue(strict.url, 'herald_sink_guard_refusals_total{stage="connect"}'),
      ).toBeGreaterThan(0);
    } finally {
      await strict.stop();
      removeDir(dataDir);
    }
  });
});

describe('sink guard: redirects', () => {
  let broker: BrokerProcess;
  let redirecting: HostileSink;
  let target: SinkProcess;
  beforeAll(async () => {
    [broker, redirecting, target] = await Promise.all([startBroker(), startHostileSink(), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), redirecting.stop(), target.stop()]);
    removeDir(broker.dataDir);
  });

  it('are never followed: a 3xx is a failed attempt recorded in status', async () => {
    // The target is allowed (127.0.0.1) and listening: only a followed redirect could reach it.
    await redirecting.configure({ mode: 'redirect', location: `${target.url}/stolen` });
    const subscription = await subscribe(broker.url, { sink: `${redirecting.url}/hook` });
    await publish(broker.url, { id: 'redirected' });
    const status = await waitForStatus(broker.url, subscription.id, (s) => s.lastError !== null);
    expect(status.lastError).toMatchObject({ code: 'HERALD_SINK_REDIRECTED', status: 302 });
    expect(await redirecting.received()).toHaveLength(1);
    await sleep(300);
    expect(await target.received()).toHaveLength(0);
  });
});

describe('sink guard: the defaults keep the README quick start working', () => {
  it('`npm start` allows the quick start sink on localhost and still refuses metadata', async () => {
    const start = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        scripts: { start: string };
      }
    ).scripts.start;
    const args = start
      .slice(start.indexOf(' broker') + ' broker'.length)
      .trim()
      .split(/\s+/);
    const broker = await startBroker({ args });
    try {
      const quickStart = await requestJson('POST', `${broker.url}/subscriptions`, {
        sink: 'http://localhost:9000/',
        protocol: 'HTTP',
        types: ['com.example.order.created'],
      });
      expect(quickStart.status).toBe(201);
      const metadata = await requestJson<{ code: string }>('POST', `${broker.url}/subscriptions`, {
        sink: 'http://169.254.169.254/latest/meta-data/',
        protocol: 'HTTP',
      });
      expect([metadata.status, metadata.body.code]).toEqual([400, 'HERALD_SINK_FORBIDDEN']);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

describe('sink guard: --sink-deny private, --sink-allow by CIDR and host glob', () => {
  it('denies private ranges unless allowed; a host glob allows a name whatever it resolves to', async () => {
    const sink = await startSink();
    const broker = await startBroker({
      args: ['--sink-deny', 'loopback,private', '--sink-allow', '10.1.0.0/16,localhost'],
    });
    try {
      const create = (url: string) =>
        requestJson<{ id: string; code: string }>('POST', `${broker.url}/subscriptions`, {
          sink: url,
          protocol: 'HTTP',
          types: ['com.example.glob'],
        });
      // Refused before any connection is made (these addresses are never contacted).
      for (const url of [
        'http://10.0.0.1/',
        'http://192.168.1.10/',
        'http://[fd00::1]/',
        'http://127.0.0.1:9/',
      ]) {
        const refused = await create(url);
        expect([url, refused.status, refused.body.code]).toEqual([url, 400, 'HERALD_SINK_FORBIDDEN']);
      }
      // Allowed by CIDR: created (and removed again before any event could make it connect).
      const allowed = await create('http://10.1.2.3/');
      expect(allowed.status).toBe(201);
      await requestJson('DELETE', `${broker.url}/subscriptions/${allowed.body.id}`);
      // Allowed by name: delivered although localhost resolves to denied loopback.
      const byName = await create(`http://localhost:${new URL(sink.url).port}/glob`);
      expect(byName.status).toBe(201);
      await publish(broker.url, { id: 'by-glob', type: 'com.example.glob' });
      const [record] = await sink.waitFor((r) => r.length === 1);
      expect(record?.path).toBe('/glob');
    } finally {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(broker.dataDir);
    }
  });
});
