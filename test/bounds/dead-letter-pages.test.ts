// Listing a subscription's dead letters stays bounded in memory, however many readers ask at once and
// however large a page they ask for. A subscription keeps up to --dead-letter-max-bytes (64 MiB) of letters
// of up to --max-event-size (1 MiB) each, and `?limit=` allows 10,000 a page: a page that held every letter
// asked for (and its event rendered, parsed and rendered again) was the subscription's whole 64 MiB, several
// times over, per request — sixteen readers took a broker from 0.6 to 3.2 GiB. Pages are cut by bytes and
// only so many are answered at once, and a client paging through still reads every letter exactly once.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { publish, requestJson, sleep, subscribe } from '../harness/client.js';
import { HeraldClient } from '../../src/client/index.js';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import type { BrokerAndSink } from '../harness/processes.js';
import { until } from '../support/until.js';
import { memory, resetPeak } from '../support/process-memory.js';

/** 64 MB: all that the default --dead-letter-max-bytes (64 MiB) keeps of such letters. */
const LETTERS = 64;
/** Just under the default --max-event-size (1 MiB) with the attributes. */
const DATA_BYTES = 1_000_000;
const DATA = 'x'.repeat(DATA_BYTES);
const READERS = 16;

interface Stalled {
  readonly socket: Socket;
  readonly status: number;
  /** The first bytes of the answer: its head (and all of a refusal). */
  readonly head: string;
}

/**
 * A reader that asks for the largest page and stops reading once the answer began: the broker has built
 * that answer by then (a page is written whole) or refused it, and it keeps what the reader does not take.
 * `localAddress` (a loopback address) makes it another client.
 */
function stalledReader(adminUrl: string, path: string, localAddress = '127.0.0.1'): Promise<Stalled> {
  const { hostname, port } = new URL(adminUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress }, () => {
      socket.write(`GET ${path}?limit=10000 HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
    });
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      const head = chunk.toString('latin1');
      resolve({ socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head });
    });
  });
}

/** Publishes `count` events of `DATA` that a subscription dead-letters at once; resolves with its id. */
async function deadLettered(context: BrokerAndSink, count: number, type: string): Promise<string> {
  const { broker, sink } = context;
  // A redirect is never followed: every delivery is rejected and dead-lettered at once.
  await sink.configure({ status: 307 });
  for (let i = 0; i < count; i++) {
    await publish(broker.url, { id: `${type}-${i + 1}`, source: '/bounds', type, data: DATA });
  }
  const subscription = await subscribe(broker.adminUrl, {
    sink: `${sink.url}/reject`,
    startAt: 'earliest',
    delivery: { retry: 0 },
    filters: [{ exact: { type } }],
  });
  const held = async () =>
    (
      await requestJson<{ status: { deadLettered: number } }>(
        'GET',
        `${broker.adminUrl}/subscriptions/${subscription.id}`,
      )
    ).body.status.deadLettered;
  expect(await until(held, (n) => n === count)).toBe(count);
  return subscription.id;
}

/** `herald_limit_rejections_total{limit=…}` summed over the limits whose name starts with `prefix`. */
async function rejections(adminUrl: string, prefix: string): Promise<number> {
  return (await (await fetch(`${adminUrl}/metrics`)).text())
    .split('\n')
    .filter((line) => line.startsWith(`herald_limit_rejections_total{limit="${prefix}`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

interface Read {
  /** Every letter id read, in the order read. */
  readonly ids: string[];
  /** Refusals met on the way (each waited out as its Retry-After says). */
  readonly refused: number;
}

/** Reads every page of `path` (largest pages allowed), following `Link: next`; a refusal is retried. */
async function readAll(adminUrl: string, path: string): Promise<Read> {
  const ids: string[] = [];
  let refused = 0;
  for (let next: string | undefined = `${path}?limit=10000`; next !== undefined;) {
    const response = await fetch(`${adminUrl}${next}`);
    if (response.status === 429 || response.status === 503) {
      const problem = (await response.json()) as { code: string };
      expect(problem.code).toMatch(/^HERALD_(TOO_MANY_DEAD_LETTER_READS|DEAD_LETTER_READ_CAPACITY)$/);
      const retryAfter = Number(response.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      refused++;
      await sleep(retryAfter * 1000);
      continue;
    }
    const text = await response.text();
    expect(response.status, text.slice(0, 500)).toBe(200);
    const page = JSON.parse(text) as { deadLetters: Array<{ id: string; event: { data: string } }> };
    for (const letter of page.deadLetters) {
      expect(letter.event.data).toHaveLength(DATA_BYTES);
      ids.push(letter.id);
    }
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  }
  return { ids, refused };
}

describe('GET /subscriptions/{id}/deadletters with many large letters and many readers at once', () => {
  const context = useBrokerAndSink(() => startBroker());

  it('holds far less than the letters asked for, and every reader still reads each letter once', async () => {
    const { broker } = context;
    const pid = broker.child.pid;
    if (pid === undefined) throw new Error('the broker has no pid');
    const id = await deadLettered(context, LETTERS, 'dev.herald.bigdeadletter');
    const path = `/subscriptions/${id}/deadletters`;

    // Readers that ask for every letter at once and take none of the answer.
    resetPeak(pid);
    const before = Math.max(memory(pid, 'VmRSS'), memory(pid, 'VmHWM'));
    const stalled = await Promise.all(
      Array.from({ length: READERS }, () => stalledReader(broker.adminUrl, path)),
    );
    const growth = memory(pid, 'VmHWM') - before;
    for (const { socket } of stalled) socket.destroy();
    const total = LETTERS * DATA_BYTES;
    // A page that held all it was asked for held every letter (64 MB) and its rendering until its reader
    // took it: sixteen readers held that sixteen times over (the broker grew by 2.6 GB). Bounded pages stay
    // within a few copies. Not within one: a page the kernel's socket buffers took frees its slot, so all
    // sixteen may be answered one after the other, and what their renderings left waits for a collection —
    // five runs grew by 7 to 83 MiB, and five with the admission removed by 7 to 77 (CI saw 69 MiB fail a
    // bound of one copy). The cut and the admission are each shown exactly by the cases below.
    expect(
      growth,
      `peak RSS grew by ${Math.round(growth / 2 ** 20)} MiB while ${READERS} readers stalled (statuses ${stalled.map((r) => r.status).join(',')})`,
    ).toBeLessThan(4 * total);

    // Readers that take what they asked for: each reads every letter exactly once, following `Link: next`
    // through pages cut by bytes and waiting out refusals, each of them counted under its flag.
    const rejectedBefore = await rejections(broker.adminUrl, 'max-dead-letter-reads');
    const reads = await Promise.all(Array.from({ length: READERS }, () => readAll(broker.adminUrl, path)));
    const ids = reads[0]?.ids ?? [];
    expect(ids).toHaveLength(LETTERS);
    expect(new Set(ids).size).toBe(LETTERS);
    for (const read of reads) expect(read.ids).toEqual(ids);
    const refused = reads.reduce((sum, read) => sum + read.refused, 0);
    expect((await rejections(broker.adminUrl, 'max-dead-letter-reads')) - rejectedBefore).toBe(refused);
  }, 600_000);
});

describe('dead-letter pages cut by --dead-letter-page-max-bytes', () => {
  const context = useBrokerAndSink(() => startBroker({ args: ['--dead-letter-page-max-bytes', '1KiB'] }));

  it('hold one letter each when every letter is over the cut, and paging reads each once', async () => {
    const { broker, sink } = context;
    await sink.configure({ status: 307 });
    const small = 5;
    for (let i = 0; i < small; i++) {
      await publish(broker.url, {
        id: `cut-${i + 1}`,
        source: '/bounds',
        type: 'dev.herald.cut',
        data: 'y'.repeat(2048),
      });
    }
    const subscription = await subscribe(broker.adminUrl, {
      sink: `${sink.url}/reject`,
      startAt: 'earliest',
      delivery: { retry: 0, maxInFlight: 1 },
      filters: [{ exact: { type: 'dev.herald.cut' } }],
    });
    const held = async () =>
      (
        await requestJson<{ status: { deadLettered: number } }>(
          'GET',
          `${broker.adminUrl}/subscriptions/${subscription.id}`,
        )
      ).body.status.deadLettered;
    expect(await until(held, (n) => n === small)).toBe(small);

    // Page by page: one letter each (a page always holds its first), `Link: next` on all but the last.
    const path = `/subscriptions/${subscription.id}/deadletters`;
    const eventIds: string[] = [];
    const links: boolean[] = [];
    for (let next: string | undefined = `${path}?limit=100`; next !== undefined;) {
      const response = await fetch(`${broker.adminUrl}${next}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { deadLetters: Array<{ event: { id: string } }> };
      expect(page.deadLetters).toHaveLength(1);
      eventIds.push(...page.deadLetters.map((letter) => letter.event.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
      links.push(next !== undefined);
    }
    expect(eventIds).toEqual(Array.from({ length: small }, (_, i) => `cut-${i + 1}`));
    expect(links).toEqual([true, true, true, true, false]);

    // The client library follows the pages: `list` up to its limit, `all` to the end.
    const client = new HeraldClient({ url: broker.url, adminUrl: broker.adminUrl });
    expect((await client.deadLetters.list(subscription.id, { limit: 3 })).map((d) => d.event['id'])).toEqual([
      'cut-1',
      'cut-2',
      'cut-3',
    ]);
    expect((await client.deadLetters.all(subscription.id)).map((d) => d.event['id'])).toEqual(eventIds);
  }, 120_000);
});

describe('dead-letter pages answered at once (--max-dead-letter-reads, --max-dead-letter-reads-per-client)', () => {
  // Pages of every letter (60 MB), more than the kernel's socket buffers take: a stalled reader's page
  // stays unfinished, and its slot taken, until the reader leaves.
  const context = useBrokerAndSink(() =>
    startBroker({
      args: [
        '--dead-letter-page-max-bytes',
        '64MiB',
        '--max-dead-letter-reads',
        '2',
        '--max-dead-letter-reads-per-client',
        '1',
      ],
    }),
  );

  it('refuses a page over either while readers hold theirs, and frees a slot when its reader leaves', async () => {
    const { broker } = context;
    const id = await deadLettered(context, 60, 'dev.herald.heldpage');
    const path = `/subscriptions/${id}/deadletters`;
    const first = await stalledReader(broker.adminUrl, path, '127.0.0.1');
    expect(first.status).toBe(200);
    // The same client again: over its share.
    const again = await stalledReader(broker.adminUrl, path, '127.0.0.1');
    again.socket.destroy();
    expect(again.status, again.head).toBe(429);
    expect(again.head).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(again.head).toContain('"code":"HERALD_TOO_MANY_DEAD_LETTER_READS"');
    // Another client takes the last slot; a third finds none.
    const second = await stalledReader(broker.adminUrl, path, '127.0.0.2');
    expect(second.status).toBe(200);
    const third = await stalledReader(broker.adminUrl, path, '127.0.0.3');
    third.socket.destroy();
    expect(third.status, third.head).toBe(503);
    expect(third.head).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(third.head).toContain('"code":"HERALD_DEAD_LETTER_READ_CAPACITY"');
    expect(await rejections(broker.adminUrl, 'max-dead-letter-reads-per-client')).toBe(1);
    expect(await rejections(broker.adminUrl, 'max-dead-letter-reads"')).toBe(1);
    // Readers that leave give their slots back: the first client reads again.
    first.socket.destroy();
    second.socket.destroy();
    const status = async () => (await fetch(`${broker.adminUrl}${path}?limit=1`)).status;
    expect(await until(status, (s) => s === 200)).toBe(200);
  }, 300_000);
});

describe('a dead-letter page its reader stops taking (--log-write-timeout)', () => {
  // One slot for the client, pages of every letter (more than the socket buffers take) and the shortest
  // write timeout: a reader that stops reading must lose its page and its slot, not keep them while its
  // connection stays open.
  const context = useBrokerAndSink(() =>
    startBroker({
      args: [
        '--dead-letter-page-max-bytes',
        '64MiB',
        '--max-dead-letter-reads-per-client',
        '1',
        '--log-write-timeout',
        '1s',
      ],
    }),
  );

  it('is ended, and the client can read again while that connection is still open', async () => {
    const { broker } = context;
    const id = await deadLettered(context, 60, 'dev.herald.untakenpage');
    const path = `/subscriptions/${id}/deadletters`;
    const stalled = await stalledReader(broker.adminUrl, path, '127.0.0.1');
    expect(stalled.status).toBe(200);
    const ended = new Promise<void>((resolve) => stalled.socket.once('close', () => resolve()));
    // The stalled reader never reads again; the broker ends its response and frees its slot.
    const status = async () => (await fetch(`${broker.adminUrl}${path}?limit=1`)).status;
    expect(await until(status, (s) => s === 200)).toBe(200);
    expect(await rejections(broker.adminUrl, 'log-write-timeout')).toBe(1);
    stalled.socket.resume();
    await ended;
  }, 300_000);
});
