// Acceptance: the durability claims of README.md and docs/ that had no SIGKILL test, each proved by killing
// a real broker process with SIGKILL right after it acknowledged something and counting what the broker
// started again on the same data (the embedded store's directory, or the same JetStream broker name) still
// has. Every scenario runs on the embedded store and on JetStream (a real nats-server built by
// test/infra/nats/build.sh; a missing binary fails the JetStream suite, never skips it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { publish, publishBatch, requestJson, subscribe } from '../harness/client.js';
import type { SubscriptionBody, TestEvent } from '../harness/client.js';
import { getLogPage, readLog } from '../support/http.js';
import type { LogEntry } from '../support/http.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { uniqueBrokerName, waitReady } from '../jetstream/brokers.js';

/**
 * One broker's durable state across processes: every `start` runs a new broker process on the same data
 * (the same embedded data directory, or the same JetStream broker name), with this start's flags only.
 */
interface BrokerLife {
  start(args?: readonly string[]): Promise<BrokerProcess>;
}

type NewBrokerLife = () => BrokerLife;

const processes: BrokerProcess[] = [];
const sinks: SinkProcess[] = [];
const dataDirs = new Set<string>();

afterAll(async () => {
  await Promise.all([...processes.map((b) => b.stop('SIGKILL')), ...sinks.map((s) => s.stop())]);
  for (const dir of dataDirs) removeDir(dir);
});

async function started(broker: BrokerProcess): Promise<BrokerProcess> {
  processes.push(broker);
  dataDirs.add(broker.dataDir);
  // The subscriptions API answers once delivery has started: wait for it, as an operator's probe would.
  await waitReady(broker);
  return broker;
}

function embeddedLife(): BrokerLife {
  let dataDir: string | undefined;
  return {
    async start(args = []) {
      const broker = await started(
        await startBroker({ args, ...(dataDir === undefined ? {} : { dataDir }) }),
      );
      dataDir = broker.dataDir;
      return broker;
    },
  };
}

function jetStreamLife(nats: () => NatsServer): BrokerLife {
  const brokerName = uniqueBrokerName('claims');
  return {
    start: async (args = []) =>
      started(
        await startBroker({
          args: ['--store', 'jetstream', '--nats-url', nats().url, '--broker-name', brokerName, ...args],
        }),
      ),
  };
}

async function kill(broker: BrokerProcess): Promise<void> {
  expect(await broker.stop('SIGKILL')).toBe('SIGKILL');
}

async function newSink(): Promise<SinkProcess> {
  const sink = await startSink();
  sinks.push(sink);
  return sink;
}

/** The sequences a sink answered 2xx to on `path`, as the broker saw them (a kill cut off no answer). */
function deliveredSequences(records: readonly SinkRecord[], path: string): number[] {
  return records
    .filter((r) => r.path === path && !r.unanswered && r.status >= 200 && r.status < 300)
    .map((r) => Number(r.headers['herald-sequence']));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const events = (prefix: string, count: number): TestEvent[] =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, source: `/durability/${prefix}` }));

async function lastSequence(broker: BrokerProcess): Promise<number> {
  return Math.max(0, ...(await readLog(broker.url)).map((e) => e.sequence));
}

async function subscription(broker: BrokerProcess, id: string): Promise<SubscriptionBody> {
  const { status, body } = await requestJson<SubscriptionBody>('GET', `${broker.url}/subscriptions/${id}`);
  expect(status).toBe(200);
  return body;
}

/** A subscription's definition: what it was created with, without the state the broker reports. */
function definitionOf(view: SubscriptionBody): Record<string, unknown> {
  const { status: _status, ...definition } = view;
  return definition;
}

/** Twenty-five subscriptions, each with a definition of its own, covering every stored field. */
function subscriptionRequests(sinkUrl: string): Record<string, unknown>[] {
  return Array.from({ length: 25 }, (_, i) => ({
    sink: `${sinkUrl}/definition-${i}`,
    types: [`com.example.kind-${i}`, 'com.example.shared'],
    ...(i % 2 === 0 ? { source: `/shop/${i}` } : {}),
    filters: [
      { prefix: { subject: `orders/${i}/` } },
      ...(i % 3 === 0 ? [{ sql: `EXISTS priority AND priority > ${i}` }] : []),
      ...(i % 4 === 0 ? [{ data: { '/total': { gte: i } } }] : []),
    ],
    config: { owner: `team-${i}` },
    protocolsettings: { method: i % 2 === 0 ? 'POST' : 'PUT', headers: { 'x-index': String(i) } },
    delivery: {
      retry: i,
      backoffPolicy: i % 2 === 0 ? 'exponential' : 'linear',
      ordering: i % 3 === 0 ? 'strict' : 'none',
    },
    startAt: i % 2 === 0 ? 'earliest' : 'latest',
  }));
}

function describeDurabilityClaims(store: string, newLife: NewBrokerLife): void {
  describe(`durability claims on the ${store} store (SIGKILL, then a restart on the same data)`, () => {
    // README.md, Subscribe: "Subscriptions are durable (they survive restarts, with their cursor)";
    // docs/subscriptions.md: "are stored durably with their cursor, and survive broker restarts".
    it('keeps every subscription answered 201, with its definition, when killed right after the last 201', async () => {
      const life = newLife();
      const sink = await newSink();
      const first = await life.start();
      const created: SubscriptionBody[] = [];
      for (const request of subscriptionRequests(sink.url)) created.push(await subscribe(first.url, request));
      await kill(first);

      const second = await life.start();
      const listed = await requestJson<SubscriptionBody[]>('GET', `${second.url}/subscriptions?limit=1000`);
      expect(listed.status).toBe(200);
      const survivors = new Map(listed.body.map((view) => [view.id, definitionOf(view)]));
      const lost = created.filter((c) => !survivors.has(c.id)).map((c) => c.id);
      const changed = created.filter(
        (c) => survivors.has(c.id) && JSON.stringify(survivors.get(c.id)) !== JSON.stringify(definitionOf(c)),
      );
      console.log(
        `[${store}] subscriptions answered 201 before SIGKILL ${created.length}, after restart ${listed.body.length}, ` +
          `lost ${lost.length}, changed ${changed.length}`,
      );
      expect(lost).toEqual([]);
      for (const before of created) expect(survivors.get(before.id)).toEqual(definitionOf(before));
      expect(listed.body).toHaveLength(created.length);
    });

    // README.md: "The original project's routes keep working: … `POST /events/sub` subscribes"; and
    // docs/subscriptions.md (compatibility): "`durable` accepted and ignored: every subscription is durable".
    it('keeps a subscription made with POST /events/sub (201) through SIGKILL: it delivers and unsubscribes', async () => {
      const life = newLife();
      const sink = await newSink();
      const first = await life.start();
      const subscribers = [`${sink.url}/seed-a`, `${sink.url}/seed-b`];
      const created = await requestJson<{ id: string }>('POST', `${first.url}/events/sub`, {
        subject: 'orders',
        subscribers,
      });
      expect(created.status).toBe(201);
      await kill(first);

      const second = await life.start();
      const listed = await requestJson<SubscriptionBody[]>('GET', `${second.url}/subscriptions?limit=1000`);
      expect(listed.body.map((view) => view.sink).sort()).toEqual(subscribers);
      await publish(second.url, { id: 'seed-matching', subject: 'orders' });
      await publish(second.url, { id: 'seed-other', subject: 'invoices' });
      const records = await waitForSink(
        sink,
        (all) => subscribers.every((s) => all.some((r) => s.endsWith(r.path) && !r.unanswered)),
        () => describeState(second),
      );
      for (const path of ['/seed-a', '/seed-b']) {
        const ids = records.filter((r) => r.path === path).map((r) => JSON.parse(bodyOf(r)).id as string);
        expect(new Set(ids)).toEqual(new Set(['seed-matching']));
      }
      const unsubscribed = await fetch(`${second.url}/events/unsub?subscriptionId=${created.body.id}`, {
        method: 'DELETE',
      });
      expect(unsubscribed.status).toBe(204);
      expect((await requestJson<unknown[]>('GET', `${second.url}/subscriptions`)).body).toEqual([]);
    });

    // docs/subscriptions.md, endpoints: "POST /subscriptions/{id}/seek … → 200"; README.md: "seek the
    // subscription back to the start of the log and every matching event arrives again" and subscriptions
    // "survive restarts, with their cursor". A seek answered 200 is that cursor.
    it('replays from the sought position after SIGKILL right after a seek answered 200', async () => {
      const life = newLife();
      const sink = await newSink();
      const first = await life.start();
      await publishBatch(first.url, events('seek', 20));
      const last = await lastSequence(first);
      // Created at `latest`, its committed cursor is past every event: only the seek can bring them back.
      const sub = await subscribe(first.url, { sink: `${sink.url}/seek`, startAt: 'latest' });
      // Deliveries the seek starts before the kill are held unanswered, so the replay has to happen after it.
      await sink.configure({ delayMs: 10_000 });
      const soughtFrom = last - 14;
      const seek = await requestJson('POST', `${first.url}/subscriptions/${sub.id}/seek`, {
        to: { sequence: soughtFrom },
      });
      expect(seek.status).toBe(200);
      await kill(first);
      await sink.configure({ delayMs: 0 });

      const second = await life.start();
      // A marker after the replayed range: once it is delivered, the replay before it has been too.
      await publish(second.url, { id: 'seek-marker', source: '/durability/seek' });
      const records = await waitForSink(
        sink,
        (all) => deliveredSequences(all, '/seek').includes(last + 1),
        () => describeState(second, sub.id),
      );
      const delivered = deliveredSequences(records, '/seek');
      const distinct = [...new Set(delivered)].sort((a, b) => a - b);
      console.log(
        `[${store}] seek to ${soughtFrom} (of ${last}) then SIGKILL: delivered after restart ${delivered.length} ` +
          `(${distinct.length} distinct, ${delivered.length - distinct.length} duplicates)`,
      );
      expect(distinct).toEqual(range(soughtFrom, last + 1));
    });

    // docs/subscriptions.md: "POST /subscriptions/{id}/pause … 200; paused subscriptions keep their cursor
    // and receive nothing"; README.md: subscriptions "can be paused and resumed" and "survive restarts".
    it('stays paused after SIGKILL right after a pause answered 200, and delivers from its cursor once resumed', async () => {
      const life = newLife();
      const sink = await newSink();
      const first = await life.start();
      const paused = await subscribe(first.url, { sink: `${sink.url}/paused`, startAt: 'latest' });
      // Subscribed to the same events and never paused: what it has received, the paused one could have.
      await subscribe(first.url, { sink: `${sink.url}/control`, startAt: 'latest' });
      const pause = await requestJson('POST', `${first.url}/subscriptions/${paused.id}/pause`);
      expect(pause.status).toBe(200);
      await kill(first);

      const second = await life.start();
      expect((await subscription(second, paused.id)).status.state).toBe('paused');
      await publishBatch(second.url, events('paused', 10));
      const last = await lastSequence(second);
      await waitForSink(
        sink,
        (all) => new Set(deliveredSequences(all, '/control')).size === 10,
        () => describeState(second, paused.id),
      );
      const whilePaused = (await sink.received()).filter((r) => r.path === '/paused');
      expect(whilePaused).toHaveLength(0);
      expect((await subscription(second, paused.id)).status.state).toBe('paused');

      const resume = await requestJson('POST', `${second.url}/subscriptions/${paused.id}/resume`);
      expect(resume.status).toBe(200);
      const records = await waitForSink(
        sink,
        (all) => new Set(deliveredSequences(all, '/paused')).size === 10,
        () => describeState(second, paused.id),
      );
      expect([...new Set(deliveredSequences(records, '/paused'))].sort((a, b) => a - b)).toEqual(
        range(last - 9, last),
      );
    });

    // docs/subscriptions.md, At least once: "The cursor only moves past events that were delivered or
    // dead-lettered … If the broker is killed, delivery resumes at the committed cursor: no event is lost";
    // and Delivery semantics: a sink answering 400 "does not retry: dead-letters at once".
    it('loses no event on the dead-letter path when killed while dead-lettering', async () => {
      const count = 300;
      const life = newLife();
      const sink = await newSink();
      const first = await life.start();
      for (let b = 0; b < count / 100; b++) await publishBatch(first.url, events(`rejected-${b}`, 100));
      const last = await lastSequence(first);
      const published = range(last - count + 1, last);
      // Slow enough that the kill below lands with most of the events still ahead.
      await sink.configure({ status: 400, delayMs: 20 });
      const sub = await subscribe(first.url, {
        sink: `${sink.url}/rejects`,
        startAt: 'earliest',
        delivery: { maxInFlight: 4 },
      });
      const beforeKill = await sink.waitFor((all) => all.length >= 60, WAIT_MS);
      await kill(first);
      const rejectedBeforeKill = (await sink.received()).filter((r) => !r.unanswered).length;
      expect(rejectedBeforeKill).toBeLessThan(count);
      expect(beforeKill.length).toBeGreaterThan(0);
      await sink.configure({ delayMs: 0 });

      const second = await life.start();
      await waitForCursor(second, sub.id, last + 1);
      const letters = await requestJson<{ deadLetters: { sequence: number }[] }>(
        'GET',
        `${second.url}/subscriptions/${sub.id}/deadletters?limit=10000`,
      );
      expect(letters.status).toBe(200);
      const sequences = letters.body.deadLetters.map((letter) => letter.sequence);
      const kept = new Set(sequences);
      const missing = published.filter((s) => !kept.has(s));
      console.log(
        `[${store}] ${count} events rejected with 400: ${rejectedBeforeKill} rejections answered before SIGKILL; ` +
          `dead letters after restart ${sequences.length} (${kept.size} distinct, ` +
          `${sequences.length - kept.size} duplicates), missing ${missing.length}`,
      );
      expect(missing).toEqual([]);
      expect(sequences.every((s) => s >= published[0]! && s <= last)).toBe(true);
    });

    // README.md: "Sending an event again whose (source, id) was accepted within the dedupe window
    // (--dedupe-window, default 2 minutes) answers the same empty 202 and stores nothing, on every store;
    // in a batch, the new events are stored and the duplicates are not (herald_events_duplicate_total counts them)."
    it('still recognises duplicates acknowledged before SIGKILL within the dedupe window', async () => {
      const life = newLife();
      const first = await life.start();
      const singles = events('dedupe-single', 10);
      const batch = events('dedupe-batch', 10);
      for (const event of singles) await publish(first.url, event);
      await publishBatch(first.url, batch);
      await kill(first);

      const second = await life.start();
      for (const event of singles) await publish(second.url, event);
      // A batch mixing the duplicates with one new event: the new one is stored, the others are not.
      await publishBatch(second.url, [...batch, { id: 'dedupe-new', source: '/durability/dedupe-batch' }]);
      const metrics = await (await fetch(`${second.url}/metrics`)).text();
      const duplicatesCounted = Number(
        /^herald_events_duplicate_total (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN,
      );
      const log = await readLog(second.url);
      const keys = log.map((e) => `${String(e.event['source'])} ${String(e.event['id'])}`);
      console.log(
        `[${store}] ${singles.length + batch.length} events published again after SIGKILL: counted as duplicates ` +
          `${duplicatesCounted}, log holds ${log.length} (${keys.length - new Set(keys).size} stored twice)`,
      );
      expect(duplicatesCounted).toBe(singles.length + batch.length);
      expect(keys.length - new Set(keys).size).toBe(0);
      expect(log).toHaveLength(singles.length + batch.length + 1);
    });

    // docs/jetstream.md and docs/kafka.md: "Sequences are strictly increasing and never reused, across
    // retention and restarts"; README.md: GET /events lists events by sequence. Here retention removed
    // every event, so nothing in the log remembers the last sequence.
    it('never reuses a sequence after retention emptied the log and the broker was killed', async () => {
      const life = newLife();
      // A window no longer than the age limit, which the jetstream and kafka stores require.
      const first = await life.start(['--retention-max-age', '1s', '--dedupe-window', '1s']);
      await publishBatch(first.url, events('expired', 10));
      const seenBeforeKill = await lastSequence(first);
      expect(seenBeforeKill).toBeGreaterThanOrEqual(10);
      await waitForEmptyLog(first);
      await kill(first);

      // Restarted without retention, so what is published next stays to be read.
      const second = await life.start();
      await publishBatch(second.url, events('after-empty', 5));
      const log = await readLog(second.url);
      console.log(
        `[${store}] retention emptied the log after sequence ${seenBeforeKill}; after SIGKILL and restart: ` +
          `${log.map((e) => e.sequence).join(', ')}`,
      );
      expect(log.map((e) => e.event['id'])).toEqual(events('after-empty', 5).map((e) => e.id));
      expect(log.every((e) => e.sequence > seenBeforeKill)).toBe(true);
      expectIncreasing(log);
    });

    // The same claim, where retention removed only the oldest events (--retention-max-events).
    it('never reuses a sequence after retention removed the oldest events and the broker was killed', async () => {
      const life = newLife();
      const first = await life.start(['--retention-max-events', '10']);
      for (let b = 0; b < 4; b++) await publishBatch(first.url, events(`kept-${b}`, 10));
      const seenBeforeKill = await lastSequence(first);
      await waitForFirstSequenceAbove(first, seenBeforeKill - 40 + 1);
      const retained = await readLog(first.url);
      await kill(first);

      const second = await life.start();
      await publishBatch(second.url, events('after-retention', 10));
      const log = await readLog(second.url);
      const fresh = log.filter((e) => String(e.event['id']).startsWith('after-retention-'));
      console.log(
        `[${store}] retention kept ${retained.length} of 40 (sequences ${retained[0]?.sequence}–${seenBeforeKill}); ` +
          `after SIGKILL and restart new events got ${fresh[0]?.sequence}–${fresh[fresh.length - 1]?.sequence}`,
      );
      expect(fresh).toHaveLength(10);
      expect(fresh.every((e) => e.sequence > seenBeforeKill)).toBe(true);
      // What retention kept keeps its sequences: no sequence names two events.
      expect(log.filter((e) => e.sequence <= seenBeforeKill)).toEqual(
        retained.filter((e) => log.some((l) => l.sequence === e.sequence)),
      );
      expectIncreasing(log);
    });
  });
}

/**
 * How long a scenario waits for the restarted broker to deliver. On JetStream that includes the killed
 * process's claims running out (6 s); the rest is generous for a shared 2-core machine.
 */
const WAIT_MS = 30_000;
/** A broker that does not answer a status request this long is reported as not answering. */
const ANSWER_MS = 3_000;

/** The subscription's status (or every subscription's), or that the broker did not answer: for failure reports. */
async function describeState(broker: BrokerProcess, id?: string): Promise<string> {
  const path = id === undefined ? '/subscriptions' : `/subscriptions/${id}`;
  try {
    const response = await fetch(`${broker.url}${path}`, { signal: AbortSignal.timeout(ANSWER_MS) });
    return `GET ${path} answered ${response.status}: ${(await response.text()).slice(0, 2_000)}`;
  } catch (error) {
    return `GET ${path} got no answer within ${ANSWER_MS} ms (${String(error)})`;
  }
}

/** `sink.waitFor`, failing with what the sink got and the broker's view of the subscription. */
async function waitForSink(
  sink: SinkProcess,
  done: (records: SinkRecord[]) => boolean,
  state: () => Promise<string>,
): Promise<SinkRecord[]> {
  try {
    return await sink.waitFor(done, WAIT_MS);
  } catch (error) {
    const got = (await sink.received()).map((r) => `${r.path}#${r.headers['herald-sequence']}:${r.status}`);
    throw new Error(`${String(error)}; the sink got [${got.join(' ')}]; ${await state()}`);
  }
}

/** Polls until the subscription's cursor reaches `cursor`; every request is bounded, so a broker that stopped answering fails the wait. */
async function waitForCursor(broker: BrokerProcess, id: string, cursor: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const response = await fetch(`${broker.url}/subscriptions/${id}`, {
        signal: AbortSignal.timeout(ANSWER_MS),
      });
      const view = (await response.json()) as SubscriptionBody;
      if (view.status.cursor >= cursor) return;
    } catch {
      // Not answering counts as "not yet"; the deadline reports it.
    }
    if (Date.now() > deadline)
      throw new Error(
        `cursor never reached ${cursor} within ${WAIT_MS} ms; ${await describeState(broker, id)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function bodyOf(record: SinkRecord): string {
  return Buffer.from(record.body, 'base64').toString('utf8');
}

function expectIncreasing(log: readonly LogEntry[]): void {
  expect(log.every((e, i) => i === 0 || e.sequence > log[i - 1]!.sequence)).toBe(true);
}

/** Polls until retention has removed every event (it runs every few seconds). */
async function waitForEmptyLog(broker: BrokerProcess): Promise<void> {
  await pollLog(broker, (page) => page.length === 0, 'retention never emptied the log');
}

async function waitForFirstSequenceAbove(broker: BrokerProcess, sequence: number): Promise<void> {
  await pollLog(
    broker,
    (page) => page.length > 0 && page[0]!.sequence > sequence,
    `retention never removed sequence ${sequence}`,
  );
}

async function pollLog(
  broker: BrokerProcess,
  done: (page: readonly LogEntry[]) => boolean,
  failure: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const page = (await getLogPage(broker.url, 1, 1000)).events;
    if (done(page)) return;
    if (Date.now() > deadline) throw new Error(`${failure}: ${JSON.stringify(page.map((e) => e.sequence))}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describeDurabilityClaims('embedded', embeddedLife);

describe('on JetStream', () => {
  let nats: NatsServer | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.stop();
  });
  describeDurabilityClaims('jetstream', () =>
    jetStreamLife(() => {
      if (nats === undefined) throw new Error('nats-server did not start');
      return nats;
    }),
  );
});
