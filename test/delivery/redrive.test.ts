// Dead-letter redrive with several letters: by ids (exactly those leave the store), unknown ids (404,
// nothing changes), all of them (none is left behind), and a redrive interrupted by SIGTERM (after the
// restart each letter is delivered or still a dead letter: none is lost), the same with SIGKILL (the
// letter at the sink when the broker dies is still a dead letter after the restart), and a redrive whose
// sink still refuses (each letter is a dead letter once more, with the new attempt, not twice).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { publishBatch, requestJson, sleep, subscribe } from '../harness/client.js';

interface Listed {
  deadLetters: Array<{ id: string; sequence: number; event: { id: string } }>;
}

const LETTERS = 5;

async function deadLetters(broker: BrokerProcess, subscription: string): Promise<Listed['deadLetters']> {
  const listed = await requestJson<Listed>('GET', `${broker.url}/subscriptions/${subscription}/deadletters`);
  expect(listed.status).toBe(200);
  return listed.body.deadLetters;
}

/** Polls the dead-letter list until `predicate` holds; throws with the last list when it never does. */
async function waitForLetters(
  broker: BrokerProcess,
  subscription: string,
  predicate: (letters: Listed['deadLetters']) => boolean,
  timeoutMs = 30_000,
): Promise<Listed['deadLetters']> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const letters = await deadLetters(broker, subscription);
    if (predicate(letters)) return letters;
    if (Date.now() > deadline)
      throw new Error(`dead letters never matched: ${letters.map((l) => l.event.id).join(',')}`);
    await sleep(100);
  }
}

const deliveredIds = (records: SinkRecord[]) =>
  records.filter((r) => r.status === 200 && !r.unanswered).map((r) => r.headers['ce-id']!);

/** A subscription whose sink rejects everything (400: dead-lettered at once) holding `ids` as dead letters. */
async function deadLettered(
  broker: BrokerProcess,
  sink: SinkProcess,
  type: string,
  ids: string[],
  delivery: Record<string, unknown> = { retry: 0 },
) {
  await sink.configure({ status: 400, delayMs: 0 });
  const subscription = await subscribe(broker.url, {
    sink: `${sink.url}/${type}`,
    types: [type],
    delivery,
  });
  await publishBatch(
    broker.url,
    ids.map((id) => ({ id, type })),
  );
  await waitForLetters(broker, subscription.id, (letters) => letters.length === ids.length);
  return subscription.id;
}

describe('dead-letter redrive', () => {
  let broker: BrokerProcess;
  let sink: SinkProcess;

  beforeAll(async () => {
    [broker, sink] = await Promise.all([startBroker(), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), sink.stop()]);
    removeDir(broker.dataDir);
  });

  it('redrives exactly the letters named by id, refuses unknown ids, then redrives all the rest', async () => {
    const ids = Array.from({ length: LETTERS }, (_, i) => `d${i}`);
    const subscription = await deadLettered(broker, sink, 'com.example.redrive', ids);
    const letters = await deadLetters(broker, subscription);
    // Dead-lettered in parallel: the list is in dead-letter order, not log order.
    expect(letters.map((l) => l.event.id).sort()).toEqual(ids);

    // Unknown ids: 404 naming them, and nothing is redriven.
    await sink.clear();
    await sink.configure({ status: 200 });
    const unknown = await requestJson<{ code: string; detail: string }>(
      'POST',
      `${broker.url}/subscriptions/${subscription}/deadletters/redrive`,
      { ids: [letters[0]!.id, 'no-such-letter'] },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('HERALD_NOT_FOUND');
    expect(unknown.body.detail).toContain('no-such-letter');
    expect((await deadLetters(broker, subscription)).map((l) => l.event.id).sort()).toEqual(ids);

    // By ids: the second and the last go, the other three stay.
    const chosen = [letters[1]!, letters[LETTERS - 1]!];
    const byIds = await requestJson(
      'POST',
      `${broker.url}/subscriptions/${subscription}/deadletters/redrive`,
      { ids: chosen.map((l) => l.id) },
    );
    expect(byIds.status).toBe(202);
    expect(byIds.body).toEqual({ redriving: 2 });
    const rest = ids.filter((id) => !chosen.some((l) => l.event.id === id));
    await waitForLetters(broker, subscription, (now) => now.length === rest.length);
    expect((await deadLetters(broker, subscription)).map((l) => l.event.id).sort()).toEqual(rest);
    expect(deliveredIds(await sink.received()).sort()).toEqual(chosen.map((l) => l.event.id).sort());

    // All: none is left behind, each delivered.
    const all = await requestJson(
      'POST',
      `${broker.url}/subscriptions/${subscription}/deadletters/redrive`,
      {},
    );
    expect(all.body).toEqual({ redriving: rest.length });
    await waitForLetters(broker, subscription, (now) => now.length === 0);
    expect(deliveredIds(await sink.received()).sort()).toEqual([...ids].sort());
  });

  it('a redrive interrupted by SIGTERM loses no letter: each is delivered or still dead-lettered', async () => {
    const ids = Array.from({ length: LETTERS }, (_, i) => `i${i}`);
    const subscription = await deadLettered(broker, sink, 'com.example.redrive.stop', ids);
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 1500 });
    const redrive = await requestJson(
      'POST',
      `${broker.url}/subscriptions/${subscription}/deadletters/redrive`,
      {},
    );
    expect(redrive.body).toEqual({ redriving: LETTERS });
    // Stop while the first redriven letter is at the sink.
    for (let i = 0; i < 200 && (await sink.inFlight()) === 0; i++) await sleep(25);
    expect(await sink.inFlight()).toBe(1);
    expect(await broker.stop('SIGTERM')).toBe(0);

    await sink.configure({ delayMs: 0 });
    broker = await startBroker({ dataDir: broker.dataDir });
    const delivered = new Set(deliveredIds(await sink.received()));
    const left = new Set((await deadLetters(broker, subscription)).map((l) => l.event.id));
    const lost = ids.filter((id) => !delivered.has(id) && !left.has(id));
    console.log(
      `redrive interrupted by SIGTERM: delivered ${[...delivered].join(',') || 'none'}; ` +
        `still dead letters ${[...left].join(',') || 'none'}; lost ${lost.length}`,
    );
    expect(lost).toEqual([]);
    expect(left.size).toBeGreaterThan(0);
  });

  it('a redrive killed by SIGKILL loses no letter: the one at the sink is still a dead letter after restart', async () => {
    const ids = Array.from({ length: LETTERS }, (_, i) => `k${i}`);
    const subscription = await deadLettered(broker, sink, 'com.example.redrive.kill', ids);
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 60_000 });
    // The previous test's abandoned request may still be held at the sink.
    const held = await sink.inFlight();
    await requestJson('POST', `${broker.url}/subscriptions/${subscription}/deadletters/redrive`, {});
    for (let i = 0; i < 200 && (await sink.inFlight()) === held; i++) await sleep(25);
    expect(await sink.inFlight()).toBe(held + 1);
    expect(await broker.stop('SIGKILL')).toBe('SIGKILL');

    await sink.configure({ delayMs: 0 });
    broker = await startBroker({ dataDir: broker.dataDir });
    const delivered = new Set(deliveredIds(await sink.received()));
    const left = (await deadLetters(broker, subscription)).map((l) => l.event.id);
    const lost = ids.filter((id) => !delivered.has(id) && !left.includes(id));
    console.log(`redrive killed by SIGKILL: still dead letters ${left.join(',')}; lost ${lost.length}`);
    expect(lost).toEqual([]);
    // Nothing was answered before the kill, so every letter is still there, once.
    expect([...left].sort()).toEqual(ids);
  });

  it('a redrive asked for while another waits to retry delivers each letter once, and leaves none behind', async () => {
    const ids = Array.from({ length: LETTERS }, (_, i) => `c${i}`);
    // A 400 dead-letters at once; the retry policy is for the redrive below.
    const subscription = await deadLettered(broker, sink, 'com.example.redrive.twice', ids, {
      retry: 1,
      backoffDelay: 'PT1S',
      jitter: 0,
    });
    await sink.clear();
    // The first redriven letter fails once (503) and waits a second to be tried again.
    await sink.configure({ status: 200, failTimes: 1, failStatus: 503 });
    const redrive = () =>
      requestJson('POST', `${broker.url}/subscriptions/${subscription}/deadletters/redrive`, {});
    expect((await redrive()).status).toBe(202);
    await sink.waitFor((records) => records.some((r) => r.status === 503));
    // The second asks for all of them while the first waits: it must not deliver the first's letters again.
    expect((await redrive()).status).toBe(202);
    await waitForLetters(broker, subscription, (now) => now.length === 0);
    await sleep(1_500);
    const delivered = deliveredIds(await sink.received());
    expect([...delivered].sort()).toEqual(ids);
    const status = await requestJson<{ status: { deadLettered: number } }>(
      'GET',
      `${broker.url}/subscriptions/${subscription}`,
    );
    expect(status.body.status.deadLettered).toBe(0);
  });

  it('a redrive the sink refuses again leaves each letter dead-lettered once, with the new attempt', async () => {
    const ids = Array.from({ length: LETTERS }, (_, i) => `r${i}`);
    const subscription = await deadLettered(broker, sink, 'com.example.redrive.again', ids);
    const before = await deadLetters(broker, subscription);
    await sink.clear();
    const redrive = await requestJson(
      'POST',
      `${broker.url}/subscriptions/${subscription}/deadletters/redrive`,
      {},
    );
    expect(redrive.body).toEqual({ redriving: LETTERS });
    // Each letter reached the sink again (and was refused) ...
    for (let i = 0; i < 400 && (await sink.received()).length < LETTERS; i++) await sleep(25);
    const after = await waitForLetters(
      broker,
      subscription,
      (now) => now.length === LETTERS && now.every((l) => !before.some((b) => b.id === l.id)),
    );
    // ... and is a dead letter once more under a new id: none twice, none missing.
    expect(after.map((l) => l.event.id).sort()).toEqual(ids);
    const status = await requestJson<{ status: { deadLettered: number } }>(
      'GET',
      `${broker.url}/subscriptions/${subscription}`,
    );
    expect(status.body.status.deadLettered).toBe(LETTERS);
  });
});
