// Acceptance: GET /events/stream (Server-Sent Events) delivers events published after connecting, with
// `id:` = the log sequence, and resumes after Last-Event-ID.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, readLog, send } from '../support/http.js';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

interface SseMessage {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

/** An open SSE connection: `next()` resolves with the next message (comments are skipped). */
async function openStream(path: string, headers: Record<string, string> = {}) {
  const req = http.get(new URL(path, broker.adminUrl), { headers, agent: false });
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('text/event-stream');
  response.setEncoding('utf8');
  const reader = response[Symbol.asyncIterator]() as AsyncIterator<string>;
  let buffer = '';
  let opened = false;

  async function nextBlock(): Promise<string> {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return block;
      }
      const { value, done } = await reader.next();
      if (done) throw new Error('the stream ended');
      buffer += value;
    }
  }

  const stream = {
    /** Resolves once the broker has written the stream's opening comment, i.e. it is subscribed. */
    async ready(): Promise<void> {
      if (opened) return;
      expect(await nextBlock()).toMatch(/^:/);
      opened = true;
    },
    async next(): Promise<SseMessage> {
      await stream.ready();
      for (;;) {
        const lines = (await nextBlock()).split('\n').filter((line) => !line.startsWith(':'));
        if (lines.length === 0) continue;
        const field = (name: string) =>
          lines
            .filter((line) => line.startsWith(`${name}:`))
            .map((line) => line.slice(name.length + 1).trimStart());
        return { id: field('id')[0], event: field('event')[0], data: field('data').join('\n') };
      }
    },
    close(): void {
      req.destroy();
    },
  };
  return stream;
}

async function publish(id: string): Promise<void> {
  expect(
    (
      await send(broker.url, {
        headers: binaryHeaders(id, { 'content-type': 'application/json' }),
        body: `{"id":"${id}"}`,
      })
    ).status,
  ).toBe(202);
}

describe('GET /events/stream', () => {
  it('delivers events published after connecting, with id: lines equal to sequences', async () => {
    await publish('before-connect');
    const stream = await openStream('/events/stream');
    try {
      await stream.ready();
      await publish('live-1');
      await publish('live-2');
      const first = await stream.next();
      const second = await stream.next();
      const log = await readLog(broker.adminUrl);
      const sequenceOf = (id: string) => log.find((entry) => entry.event['id'] === id)!.sequence;
      expect([first.id, second.id]).toEqual([String(sequenceOf('live-1')), String(sequenceOf('live-2'))]);
      expect(first.event).toBe('cloudevent');
      expect(JSON.parse(first.data)).toEqual(log.find((entry) => entry.event['id'] === 'live-1')!.event);
      expect(JSON.parse(second.data)).toMatchObject({ id: 'live-2', data: { id: 'live-2' } });
    } finally {
      stream.close();
    }
  });

  it('refuses a Last-Event-ID that is no sequence of this log, as ?from= is refused', async () => {
    for (const [header, query] of [
      ['99999999999999999999999', '?from=99999999999999999999999'],
      [String(Number.MAX_SAFE_INTEGER), `?from=${Number.MAX_SAFE_INTEGER + 1}`],
    ]) {
      for (const [path, headers] of [
        ['/events/stream', { 'last-event-id': header as string }],
        [`/events/stream${query as string}`, {}],
      ] as const) {
        const answer = await fetch(new URL(path, broker.adminUrl), { headers });
        expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(400);
        expect(((await answer.json()) as { code: string }).code).toBe('HERALD_INVALID_QUERY');
      }
    }
  });

  it('resumes after Last-Event-ID, and replays from ?from=', async () => {
    const log = await readLog(broker.adminUrl);
    const live1 = log.find((entry) => entry.event['id'] === 'live-1')!.sequence;

    const resumed = await openStream('/events/stream', { 'last-event-id': String(live1) });
    try {
      const message = await resumed.next();
      expect(message.id).toBe(String(live1 + 1));
      expect(JSON.parse(message.data)).toMatchObject({ id: 'live-2' });
      await publish('live-3');
      expect(JSON.parse((await resumed.next()).data)).toMatchObject({ id: 'live-3' });
    } finally {
      resumed.close();
    }

    const replay = await openStream('/events/stream?from=1');
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(JSON.parse((await replay.next()).data).id as string);
      expect(ids).toEqual(['before-connect', 'live-1', 'live-2', 'live-3']);
    } finally {
      replay.close();
    }
  });
});
