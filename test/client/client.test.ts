// Acceptance (issue 13): the TypeScript client (`herald/client`) against real broker processes —
// batching, backpressure, retries on 429 honouring Retry-After and on an unreachable broker, the typed
// subscriptions and dead-letter API, tail with resume, and the official SDK's CloudEvent in and out.
import { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HeraldClient,
  HeraldConnectionError,
  HeraldProblemError,
  InvalidEventError,
  PublishError,
} from '../../src/client/index.js';
import type { Subscription } from '../../src/client/index.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { freePorts } from '../infra/process.js';

let broker: BrokerProcess;
let sink: SinkProcess;
beforeAll(async () => {
  [broker, sink] = await Promise.all([startBroker(), startSink()]);
});
afterAll(async () => {
  await Promise.all([broker.stop(), sink.stop()]);
  removeDir(broker.dataDir);
});

/** The real fetch, counting requests and the statuses answered (a wrapper, not a stand-in). */
function countingFetch() {
  const log: Array<{ method: string; path: string; status: number; events: number }> = [];
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const body = init?.body;
    const events =
      typeof body === 'string' && body.startsWith('[') ? (JSON.parse(body) as unknown[]).length : 0;
    log.push({ method: init?.method ?? 'GET', path: url.pathname, status: response.status, events });
    return response;
  };
  return { log, fetch: wrapped };
}

async function logIds(source: string): Promise<string[]> {
  const client = new HeraldClient({ url: broker.url });
  const ids: string[] = [];
  let from = 1;
  for (;;) {
    const page = await client.events({ from, limit: 1000 });
    if (page.events.length === 0) return ids;
    for (const { event } of page.events) if (event['source'] === source) ids.push(String(event['id']));
    from = page.next;
  }
}

describe('publish', () => {
  it('accepts plain objects and the SDK CloudEvent, and tail returns SDK CloudEvents', async () => {
    const client = new HeraldClient({ url: broker.url });
    await client.publish([
      new CloudEvent({ id: 'sdk-1', source: '/sdk', type: 'com.example.sdk', data: { hello: 'world' } }),
      { id: 'plain-1', source: '/sdk', type: 'com.example.sdk', datacontenttype: 'text/plain', data: 'hi' },
      new CloudEvent({
        id: 'sdk-bin',
        source: '/sdk',
        type: 'com.example.sdk',
        datacontenttype: 'application/octet-stream',
        data: new Uint8Array([0, 1, 255]),
      }),
    ]);
    // A plain object without specversion and id gets 1.0 and a UUID.
    await client.publish({ source: '/sdk', type: 'com.example.sdk.defaults' });
    const seen: CloudEvent<unknown>[] = [];
    for await (const { event, sequence } of client.tail({ from: 'earliest', filter: "source = '/sdk'" })) {
      expect(sequence).toBeGreaterThan(0);
      seen.push(event);
      if (seen.length === 4) break;
    }
    expect(seen.every((event) => event instanceof CloudEvent)).toBe(true);
    expect(seen[0]).toMatchObject({ id: 'sdk-1', type: 'com.example.sdk', data: { hello: 'world' } });
    expect(seen[1]).toMatchObject({ id: 'plain-1', data: 'hi' });
    expect([...(seen[2]!.data as Uint8Array)]).toEqual([0, 1, 255]);
    expect(seen[3]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[3]!.specversion).toBe('1.0');
  });

  it('batches by size and linger, within the memory bound (backpressure)', async () => {
    const { log, fetch } = countingFetch();
    const client = new HeraldClient({
      url: broker.url,
      fetch,
      maxBatchEvents: 100,
      lingerMs: 20,
      maxBufferedEvents: 250,
    });
    let highest = 0;
    for (let i = 0; i < 2_000; i++) {
      // Resolves once buffered; waits while 250 events are held.
      await client.enqueue({ id: `batch-${i}`, source: '/batching', type: 'com.example.batch' });
      highest = Math.max(highest, client.buffered);
    }
    await client.flush();
    expect(highest).toBeLessThanOrEqual(250);
    const posts = log.filter((entry) => entry.method === 'POST');
    expect(posts.reduce((sum, entry) => sum + entry.events, 0)).toBe(2_000);
    expect(posts.every((entry) => entry.events <= 100 && entry.status === 202)).toBe(true);
    expect(posts.length).toBeLessThan(40);
    expect((await logIds('/batching')).length).toBe(2_000);

    // A lone event leaves after the linger time, not when a batch fills.
    await client.publish({ id: 'lonely', source: '/batching', type: 'com.example.batch' });
    expect(log.at(-1)).toMatchObject({ method: 'POST', events: 1, status: 202 });
  });

  it('validates locally: an invalid event is refused before anything is sent', async () => {
    const { log, fetch } = countingFetch();
    const client = new HeraldClient({ url: broker.url, fetch });
    const error = await client
      .publish([
        { id: 'ok', source: '/v', type: 't' },
        { id: 'bad', source: '/v', type: 't', time: 'noon' },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as InvalidEventError).code).toBe('HERALD_INVALID_ATTRIBUTE');
    expect((error as InvalidEventError).attribute).toBe('time');
    expect(log).toEqual([]);
  });

  it('reports a refusal as a HeraldProblemError with the code; flush() lists enqueued failures', async () => {
    const client = new HeraldClient({ url: broker.url });
    const big = {
      id: 'big',
      source: '/refused',
      type: 't',
      datacontenttype: 'text/plain',
      data: 'x'.repeat(1_100_000),
    };
    const error = await client.publish(big).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeraldProblemError);
    expect((error as HeraldProblemError).code).toBe('HERALD_PAYLOAD_TOO_LARGE');
    expect((error as HeraldProblemError).status).toBe(413);
    await client.enqueue(big);
    const flushed = await client.flush().catch((e: unknown) => e);
    expect(flushed).toBeInstanceOf(PublishError);
    expect((flushed as PublishError).failures.map((f) => f.id)).toEqual(['big']);
  });

  it('retries on 429 and honours Retry-After, until every event is accepted', async () => {
    const limited = await startBroker({ args: ['--ingress-rate-limit', '1'] });
    try {
      const { log, fetch } = countingFetch();
      const client = new HeraldClient({
        url: limited.url,
        fetch,
        maxBatchEvents: 1,
        maxInFlight: 1,
        lingerMs: 0,
      });
      const started = Date.now();
      await client.publish(
        Array.from({ length: 5 }, (_, i) => ({ id: `limited-${i}`, source: '/limited', type: 't' })),
      );
      // One event a second: five need four seconds of refill, so some are refused however slow the machine.
      const refused = log.filter((entry) => entry.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      expect(log.filter((entry) => entry.status === 202)).toHaveLength(5);
      // Retry-After is at least one second: the client waited rather than hammering (which would be
      // hundreds of refusals in those four seconds).
      expect(refused.length).toBeLessThan(20);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    } finally {
      await limited.stop();
      removeDir(limited.dataDir);
    }
  });

  it('retries on 503 honouring Retry-After, then reports the problem', async () => {
    // A broker whose JetStream store is not reachable answers ingress with 503 and Retry-After: 1.
    const [natsPort] = await freePorts(1);
    const unready = await startBroker({
      args: ['--store', 'jetstream', '--nats-url', `nats://127.0.0.1:${natsPort}`],
    });
    try {
      const { log, fetch } = countingFetch();
      const client = new HeraldClient({ url: unready.url, fetch, maxAttempts: 3 });
      const started = Date.now();
      const error = await client
        .publish({ id: 'unready', source: '/unready', type: 't' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeraldProblemError);
      expect((error as HeraldProblemError).status).toBe(503);
      expect((error as HeraldProblemError).retryAfter).toBe(1);
      expect(log.map((entry) => entry.status)).toEqual([503, 503, 503]);
      // Two waits of Retry-After: 1 second between the three attempts.
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    } finally {
      await unready.stop();
      removeDir(unready.dataDir);
    }
  });

  it('retries while the broker is unreachable and publishes once it is back', async () => {
    const [port] = await freePorts(1);
    const client = new HeraldClient({
      url: `http://127.0.0.1:${port}`,
      maxAttempts: 30,
      maxRetryDelayMs: 500,
    });
    const publishing = client.publish({ id: 'late-1', source: '/late', type: 't' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const later = await startBroker({ args: ['--port', String(port)] });
    try {
      await publishing;
      const page = await client.events({ from: 1, limit: 10 });
      expect(page.events.map(({ event }) => event['id'])).toEqual(['late-1']);
    } finally {
      await later.stop();
      removeDir(later.dataDir);
    }
    const gone = new HeraldClient({ url: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    await expect(gone.publish({ id: 'x', source: '/late', type: 't' })).rejects.toBeInstanceOf(
      HeraldConnectionError,
    );
  });
});

describe('subscriptions, dead letters, match', () => {
  it('drives the whole API with the types the broker validates with', async () => {
    const client = new HeraldClient({ url: broker.url });
    const created: Subscription = await client.subscriptions.create({
      sink: sink.url,
      protocol: 'HTTP',
      types: ['com.example.typed'],
      delivery: { retry: 0 },
      startAt: 'latest',
    });
    expect(created.status.state).toBe('active');
    expect((await client.subscriptions.list()).map((s) => s.id)).toContain(created.id);
    expect((await client.subscriptions.get(created.id)).sink).toBe(sink.url);
    expect(
      (await client.match({ id: 'm', source: '/typed', type: 'com.example.typed' })).map((m) => m.id),
    ).toContain(created.id);
    expect(
      (await client.match({ id: 'm', source: '/typed', type: 'com.example.other' })).map((m) => m.id),
    ).not.toContain(created.id);
    expect((await client.subscriptions.pause(created.id)).status.state).toBe('paused');
    expect((await client.subscriptions.resume(created.id)).status.state).toBe('active');

    await sink.configure({ status: 400 });
    try {
      await client.publish({ id: 'typed-dead', source: '/typed', type: 'com.example.typed' });
      let letters = await client.deadLetters.list(created.id);
      for (let i = 0; i < 200 && letters.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        letters = await client.deadLetters.list(created.id);
      }
      expect(letters.map((letter) => letter.event['id'])).toEqual(['typed-dead']);
      expect(letters[0]!.error.code).toBe('HERALD_SINK_REJECTED');
      await sink.configure({ status: 200 });
      expect(await client.deadLetters.redrive(created.id)).toBe(1);
    } finally {
      await sink.configure({ status: 200 });
    }
    const seeked = await client.subscriptions.seek(created.id, 'earliest');
    expect(seeked.id).toBe(created.id);

    const refused = await client.subscriptions
      .create({ sink: 'not a url', protocol: 'HTTP' })
      .catch((e: unknown) => e as HeraldProblemError);
    expect(refused).toBeInstanceOf(HeraldProblemError);
    expect((refused as HeraldProblemError).problem.pointer).toBe('/sink');

    await client.subscriptions.delete(created.id);
    const missing = await client.subscriptions.get(created.id).catch((e: unknown) => e as HeraldProblemError);
    expect((missing as HeraldProblemError).code).toBe('HERALD_NOT_FOUND');
  });

  it('reads log size and counters', async () => {
    const snapshot = await new HeraldClient({ url: broker.url }).snapshot();
    expect(snapshot.logEvents).toBeGreaterThan(0);
    expect(snapshot.accepted).toBeGreaterThan(0);
  });
});

describe('tail', () => {
  it('starts from a sequence or a time, and a refusal ends the iteration with the problem', async () => {
    const client = new HeraldClient({ url: broker.url });
    const before = new Date(Date.now() - 1000);
    await client.publish({ id: 'tail-time', source: '/tail-time', type: 't' });
    const fromTime: string[] = [];
    for await (const { json } of client.tail({ from: before, filter: "source = '/tail-time'" })) {
      fromTime.push(String(json['id']));
      break;
    }
    expect(fromTime).toEqual(['tail-time']);
    const page = await client.events({ from: 1, limit: 1 });
    const first = page.events[0]!;
    for await (const { sequence } of client.tail({ from: first.sequence })) {
      expect(sequence).toBe(first.sequence);
      break;
    }
    const iterate = async () => {
      for await (const item of client.tail({ filter: 'type = ' })) void item;
    };
    const error = await iterate().catch((e: unknown) => e as HeraldProblemError);
    expect(error).toBeInstanceOf(HeraldProblemError);
    expect((error as HeraldProblemError).code).toBe('HERALD_INVALID_FILTER');
  });

  it('stops cleanly when its signal aborts', async () => {
    const client = new HeraldClient({ url: broker.url });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const seen: number[] = [];
    for await (const { sequence } of client.tail({ signal: controller.signal })) seen.push(sequence);
    expect(seen).toEqual([]);
  });
});
