// Acceptance (issue 13): the receiver (`herald/receive`) in the examples/ consumers — node:http,
// Express, Fastify and Hono, each a real server process — gets real deliveries from a real broker in
// binary, structured and batch mode; malformed deliveries get a 400 with a reason; the webhook
// validation handshake is answered.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { publishBatch, subscribe } from '../harness/client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Received {
  subscription: string;
  sequence: number;
  attempt: number;
  mode: string;
  id: string;
  type: string;
  data: unknown;
}

interface Consumer {
  readonly name: string;
  readonly url: string;
  readonly received: Received[];
  readonly child: ChildProcess;
}

async function startConsumer(name: string, pathname: string): Promise<Consumer> {
  const child = spawn(process.execPath, [path.join(root, 'examples', `receive-${name}.mjs`)], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const received: Received[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as { listening?: number } & Received;
      if (parsed.listening !== undefined) resolve(parsed.listening);
      else received.push(parsed);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
  });
  return { name, url: `http://127.0.0.1:${port}${pathname}`, received, child };
}

const CONSUMERS = [
  ['node-http', '/'],
  ['express', '/events'],
  ['fastify', '/events'],
  ['hono', '/events'],
] as const;

let broker: BrokerProcess;
const consumers: Consumer[] = [];
beforeAll(async () => {
  broker = await startBroker();
  for (const [name, pathname] of CONSUMERS) consumers.push(await startConsumer(name, pathname));
});
afterAll(async () => {
  for (const consumer of consumers) consumer.child.kill('SIGTERM');
  await broker?.stop();
  if (broker !== undefined) removeDir(broker.dataDir);
});

async function waitFor(consumer: Consumer, predicate: (r: Received[]) => boolean): Promise<Received[]> {
  for (let i = 0; i < 600; i++) {
    if (predicate(consumer.received)) return consumer.received;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${consumer.name} received only ${JSON.stringify(consumer.received)}`);
}

describe.each(CONSUMERS.map(([name]) => name))('the %s example consumer', (name) => {
  const consumer = () => consumers.find((c) => c.name === name)!;

  it('receives binary, structured and batch deliveries with the Herald-* headers', async () => {
    const type = `com.example.receive.${name}`;
    const subscriptions: Record<string, string> = {};
    for (const contentMode of ['binary', 'structured', 'batch'] as const) {
      const sub = await subscribe(broker.url, {
        sink: consumer().url,
        protocol: 'HTTP',
        types: [type],
        delivery: { contentMode, batch: { maxEvents: 3, maxWait: 'PT0.2S' } },
      });
      subscriptions[contentMode] = sub.id;
    }
    await publishBatch(
      broker.url,
      [1, 2, 3].map((n) => ({
        id: `${name}-${n}`,
        source: '/receivers',
        type,
        // Non-ASCII and a space: percent-encoded in ce-* headers, decoded by the receiver.
        subject: `café €${n}`,
        data: { n },
      })),
    );
    const received = await waitFor(consumer(), (r) => r.filter((x) => x.type === type).length >= 9);
    const mine = received.filter((r) => r.type === type);
    for (const [mode, id] of Object.entries(subscriptions)) {
      const got = mine.filter((r) => r.subscription === id);
      expect(got.map((r) => r.id).sort(), mode).toEqual([`${name}-1`, `${name}-2`, `${name}-3`]);
      for (const r of got) {
        expect(r.mode).toBe(mode);
        expect(r.attempt).toBe(1);
        expect(r.sequence).toBeGreaterThan(0);
      }
      expect(got.map((r) => r.data)).toContainEqual({ n: 1 });
    }
  });

  it('decodes percent-encoded headers, and rejects malformed deliveries with 400 and a reason', async () => {
    const good = await fetch(consumer().url, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'pct-1',
        'ce-source': '/pct',
        'ce-type': 'com.example.pct',
        'ce-subject': 'caf%C3%A9%20%E2%82%AC',
        'herald-subscription': 'manual',
        'herald-sequence': '7',
        'herald-attempt': '2',
        'content-type': 'text/plain',
      },
      body: 'hello',
    });
    expect(good.status).toBe(204);
    const got = (await waitFor(consumer(), (r) => r.some((x) => x.id === 'pct-1'))).find(
      (x) => x.id === 'pct-1',
    )!;
    expect(got).toMatchObject({
      subscription: 'manual',
      sequence: 7,
      attempt: 2,
      mode: 'binary',
      data: 'hello',
    });

    const cases: Array<[string, RequestInit, RegExp]> = [
      [
        'broken JSON',
        { headers: { 'content-type': 'application/cloudevents+json' }, body: '{"id": ' },
        /not valid JSON/,
      ],
      [
        'a bad percent-encoding',
        {
          headers: {
            'ce-specversion': '1.0',
            'ce-id': 'x',
            'ce-source': '/s',
            'ce-type': 't',
            'ce-subject': '%ZZ',
          },
        },
        /percent/i,
      ],
      [
        'a missing type',
        {
          headers: { 'content-type': 'application/cloudevents+json' },
          body: '{"specversion":"1.0","id":"1","source":"/s"}',
        },
        /'type'/,
      ],
      [
        'a batch that is not an array',
        { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '{}' },
        /array/,
      ],
      ['no CloudEvent at all', { headers: { 'content-type': 'text/plain' }, body: 'hi' }, /not a CloudEvent/],
      [
        'a bad Herald-Attempt',
        {
          headers: {
            'ce-specversion': '1.0',
            'ce-id': 'x',
            'ce-source': '/s',
            'ce-type': 't',
            'herald-attempt': 'two',
          },
        },
        /herald-attempt/,
      ],
    ];
    for (const [what, init, reason] of cases) {
      const response = await fetch(consumer().url, { method: 'POST', ...init });
      expect(response.status, what).toBe(400);
      expect(response.headers.get('content-type'), what).toMatch(/^application\/problem\+json/);
      const problem = (await response.json()) as { detail: string; code: string };
      expect(problem.detail, what).toMatch(reason);
      expect(problem.code, what).toMatch(/^HERALD_/);
    }
    // Still serving after all of that.
    expect((await fetch(consumer().url, { method: 'OPTIONS' })).status).toBe(204);
  });

  it('answers the CloudEvents webhook validation handshake', async () => {
    const response = await fetch(consumer().url, {
      method: 'OPTIONS',
      headers: { 'webhook-request-origin': 'herald.example.com' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('webhook-allowed-origin')).toBe('herald.example.com');
  });
});
