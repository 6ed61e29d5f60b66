// Changing a subscription while it delivers: a PUT while events arrive skips none of them; a strict
// subscription changed or sought while an attempt is held never has two attempts open at once; a paused
// subscription makes no attempt, retries included, until it is resumed; and an event whose dead letter
// the store cannot keep yet stays undelivered (before the cursor) until it can, instead of being lost.
import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SinkProcess, SinkRecord } from '../harness/processes.js';
import { useBrokerAndSink } from '../harness/processes.js';
import { metricValue, publish, requestJson, sleep, subscribe, waitForStatus } from '../harness/client.js';

const answeredIds = (records: SinkRecord[]) =>
  records.filter((r) => !r.unanswered && r.status === 200).map((r) => r.headers['ce-id'] as string);

/**
 * Resolves once the sink holds a request open (received, not yet answered). Held requests are held for a
 * minute, longer than any test waits: the broker gives them up (a change after 5 s, a seek at once), so
 * this never races an answer.
 */
async function untilHeld(sink: SinkProcess): Promise<void> {
  for (let i = 0; i < 600 && (await sink.inFlight()) === 0; i++) await sleep(50);
  expect(await sink.inFlight()).toBeGreaterThan(0);
}

describe('changing a subscription while it delivers', () => {
  const context = useBrokerAndSink();

  it('a PUT while an attempt is held and events keep arriving delivers every one of them', async () => {
    const { broker, sink } = context;
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 0, holdFirstById: ['put-slow'] });
    const type = 'com.example.put';
    const body = { sink: `${sink.url}/put`, types: [type] };
    const changed = await subscribe(broker.adminUrl, body);
    // Another subscription keeps the shared tail reading while the changed one is being replaced.
    await subscribe(broker.adminUrl, { sink: `${sink.url}/none`, types: ['com.example.never'] });
    await publish(broker.url, { id: 'put-slow', type });
    await untilHeld(sink);
    // The PUT waits for the held attempt (up to 5 s); events arrive meanwhile, then the sink answers it,
    // so the replaced worker stops with nothing in flight.
    const put = requestJson('PUT', `${broker.adminUrl}/subscriptions/${changed.id}`, {
      ...body,
      protocol: 'HTTP',
      delivery: { retry: 3 },
    });
    const during = Array.from({ length: 10 }, (_, i) => `put-during-${i}`);
    for (const id of during) await publish(broker.url, { id, type });
    await sink.release();
    expect((await put).status).toBe(200);
    const after = ['put-after-0', 'put-after-1'];
    for (const id of after) await publish(broker.url, { id, type });
    const records = await sink.waitFor((r) => {
      const ids = new Set(answeredIds(r));
      return [...during, ...after, 'put-slow'].every((id) => ids.has(id));
    });
    expect(new Set(answeredIds(records))).toEqual(new Set([...during, ...after, 'put-slow']));
    await waitForStatus(broker.adminUrl, changed.id, (status) => status.lag === 0);
  });

  it('a seek and a pause made while a PUT waits for an attempt are applied to the changed subscription', async () => {
    const { broker, sink } = context;
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 0, holdFirstById: ['sp-held'] });
    const type = 'com.example.put-seek';
    const body = { sink: `${sink.url}/put-seek`, types: [type] };
    const changed = await subscribe(broker.adminUrl, body);
    await publish(broker.url, { id: 'sp-1', type });
    await sink.waitFor((r) => answeredIds(r).includes('sp-1'));
    await publish(broker.url, { id: 'sp-held', type });
    await untilHeld(sink);
    const put = requestJson('PUT', `${broker.adminUrl}/subscriptions/${changed.id}`, {
      ...body,
      protocol: 'HTTP',
      delivery: { retry: 2 },
    });
    const url = `${broker.adminUrl}/subscriptions/${changed.id}`;
    expect((await requestJson('POST', `${url}/seek`, { to: 'earliest' })).status).toBe(200);
    await sink.release();
    expect((await put).status).toBe(200);
    // The replay the seek asked for: sp-1 answered a second time.
    await sink.waitFor((r) => answeredIds(r).filter((id) => id === 'sp-1').length >= 2);

    // The same for a pause: made while a PUT waits, it holds for the changed subscription.
    await sink.configure({ status: 200, delayMs: 0, holdFirstById: ['sp-held-2'] });
    await publish(broker.url, { id: 'sp-held-2', type });
    await untilHeld(sink);
    const second = requestJson('PUT', url, { ...body, protocol: 'HTTP', delivery: { retry: 3 } });
    expect((await requestJson('POST', `${url}/pause`)).status).toBe(200);
    await sink.release();
    expect((await second).status).toBe(200);
    expect((await waitForStatus(broker.adminUrl, changed.id, () => true)).state).toBe('paused');
    await publish(broker.url, { id: 'sp-while-paused', type });
    await sleep(1_000);
    expect(answeredIds(await sink.received())).not.toContain('sp-while-paused');
    expect((await requestJson('POST', `${url}/resume`)).status).toBe(200);
    await sink.waitFor((r) => answeredIds(r).includes('sp-while-paused'));
  });

  it('a strict subscription changed while an attempt is held never holds two attempts open', async () => {
    const { broker, sink } = context;
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 0, delayFirstById: { 'strict-1': 60_000 } });
    const type = 'com.example.strict-put';
    const body = { sink: `${sink.url}/strict`, types: [type], delivery: { ordering: 'strict' } };
    const subscription = await subscribe(broker.adminUrl, body);
    const ids = ['strict-1', 'strict-2', 'strict-3', 'strict-4'];
    for (const id of ids) await publish(broker.url, { id, type });
    await untilHeld(sink);
    const put = await requestJson('PUT', `${broker.adminUrl}/subscriptions/${subscription.id}`, {
      ...body,
      protocol: 'HTTP',
      delivery: { ordering: 'strict', rateLimit: 1000 },
    });
    expect(put.status).toBe(200);
    const records = await sink.waitFor((r) => answeredIds(r).length >= ids.length);
    // The held attempt was given up before the replacement delivered anything: one open at a time, and
    // the events answered in log order.
    expect(await sink.maxOpen()).toBe(1);
    expect(answeredIds(records)).toEqual(ids);
  });

  it('a strict subscription sought while an attempt is held never holds two attempts open', async () => {
    const { broker, sink } = context;
    await sink.clear();
    await sink.configure({ status: 200, delayMs: 0, delayFirstById: { 'seek-1': 60_000 } });
    const type = 'com.example.strict-seek';
    const subscription = await subscribe(broker.adminUrl, {
      sink: `${sink.url}/seek`,
      types: [type],
      delivery: { ordering: 'strict' },
    });
    await publish(broker.url, { id: 'seek-1', type });
    await publish(broker.url, { id: 'seek-2', type });
    await untilHeld(sink);
    const from = await waitForStatus(broker.adminUrl, subscription.id, () => true);
    const seek = await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/seek`, {
      to: { sequence: from.cursor },
    });
    expect(seek.status).toBe(200);
    const records = await sink.waitFor((r) => answeredIds(r).includes('seek-2'));
    expect(await sink.maxOpen()).toBe(1);
    expect(answeredIds(records)).toEqual(['seek-1', 'seek-2']);
  });

  it('a paused subscription makes no retry until it is resumed', async () => {
    const { broker, sink } = context;
    await sink.clear();
    await sink.configure({ status: 503, delayMs: 0 });
    const type = 'com.example.paused-retries';
    const subscription = await subscribe(broker.adminUrl, {
      sink: `${sink.url}/paused`,
      types: [type],
      delivery: { retry: 50, backoffPolicy: 'linear', backoffDelay: 'PT0.2S', backoffMax: 'PT0.2S' },
    });
    await publish(broker.url, { id: 'paused-1', type });
    await sink.waitFor((r) => r.length >= 2);
    expect(
      (await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/pause`)).status,
    ).toBe(200);
    // An attempt already sent when the pause came may still arrive (late, on a loaded machine); none after
    // it. Settled: two readings a second apart agree (a subscription retrying every 200 ms never does).
    let atPause = (await sink.received()).length;
    for (let i = 0; i < 10; i++) {
      await sleep(1_000);
      const now = (await sink.received()).length;
      if (now === atPause) break;
      atPause = now;
    }
    await sleep(2_000);
    expect((await sink.received()).length).toBe(atPause);
    const status = await waitForStatus(broker.adminUrl, subscription.id, () => true);
    expect(status.deadLettered).toBe(0);
    expect(
      (await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/resume`)).status,
    ).toBe(200);
    await sink.waitFor((r) => r.length >= atPause + 2);
    await requestJson('DELETE', `${broker.adminUrl}/subscriptions/${subscription.id}`);
  });
});

describe('a dead letter the store cannot keep yet', () => {
  const context = useBrokerAndSink();

  it('stays undelivered while the store refuses it, and is a dead letter once the store takes it', async () => {
    const { broker, sink } = context;
    await sink.configure({ status: 400, delayMs: 0 });
    const type = 'com.example.dead-letter-store';
    const subscription = await subscribe(broker.adminUrl, {
      sink: `${sink.url}/refuses`,
      types: [type],
      delivery: { retry: 0, backoffPolicy: 'linear', backoffDelay: 'PT0.2S', backoffMax: 'PT0.5S' },
    });
    // Another connection holds SQLite's write lock from before the sink refuses the event until well past
    // the broker's busy timeout (2 s): the dead-letter insert fails as it would on a busy or full database.
    const db = new Database(path.join(broker.dataDir, 'default.db'));
    db.exec('BEGIN IMMEDIATE');
    try {
      await publish(broker.url, { id: 'kept-1', type });
      await sink.waitFor((r) => r.length >= 1);
      await sleep(5_000);
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    const status = await waitForStatus(broker.adminUrl, subscription.id, (s) => s.deadLettered === 1);
    expect(status.lag).toBe(0);
    // The insert did fail meanwhile (the event was tried again, not dropped).
    expect(await metricValue(broker.adminUrl, 'herald_dead_letter_store_failures_total')).toBeGreaterThan(0);
    const letters = await requestJson<{ deadLetters: Array<{ event: { id: string } }> }>(
      'GET',
      `${broker.adminUrl}/subscriptions/${subscription.id}/deadletters`,
    );
    expect(letters.body.deadLetters.map((l) => l.event.id)).toEqual(['kept-1']);
  });
});
