// Redriving a subscription's dead letters holds a bounded number of them and never stalls the event loop.
// A redrive of all read every letter with its event into memory at once and kept the array until the last
// was delivered (10,000 letters of 64 KiB: over half a GiB of the broker's memory; with
// --dead-letter-max-letters 0 no limit at all), and a redrive by ids matched every id against every letter
// (`ids.filter(… letters.some(…))`: a 16 MiB body of ids against thousands of letters held the event loop,
// every publish, delivery and health check, for as long as those billions of comparisons took).
import { describe, expect, it } from 'vitest';
import { publishBatch, requestJson, sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import { metricValue } from '../support/http.js';
import { until } from '../support/until.js';
import { memory, resetPeak } from '../support/process-memory.js';

const DATA_BYTES = 64 * 1024;
const DATA = 'x'.repeat(DATA_BYTES);

const UNLIMITED = [
  '--dead-letter-max-letters',
  '0',
  '--dead-letter-max-bytes',
  '0',
  '--dead-letter-max-age',
  '0',
];

async function deadLettersHeld(broker: BrokerProcess, subscription: string): Promise<number> {
  return (
    await requestJson<{ status: { deadLettered: number } }>(
      'GET',
      `${broker.adminUrl}/subscriptions/${subscription}`,
    )
  ).body.status.deadLettered;
}

/**
 * A subscription holding `events × rounds` dead letters with `data` (every round seeks back to the first
 * event once the last round's letters are all stored: fewer events to publish).
 */
async function manyDeadLetters(
  broker: BrokerProcess,
  sink: SinkProcess,
  type: string,
  events: number,
  rounds: number,
  data: string | undefined,
): Promise<string> {
  const letters = events * rounds;
  // A redirect is never followed: every delivery is rejected and dead-lettered at once.
  await sink.configure({ status: 307 });
  for (let from = 0; from < events; from += 100) {
    await publishBatch(
      broker.url,
      Array.from({ length: Math.min(100, events - from) }, (_, i) => ({
        id: `${type}-${from + i + 1}`,
        source: '/bounds',
        type,
        ...(data === undefined ? {} : { data }),
      })),
    );
  }
  const subscription = await subscribe(broker.adminUrl, {
    sink: `${sink.url}/${type}`,
    startAt: 'earliest',
    delivery: { retry: 0, ordering: 'none', maxInFlight: 64 },
    filters: [{ exact: { type } }],
  });
  const before =
    (await metricValue(
      await (await fetch(`${broker.adminUrl}/metrics`)).text(),
      'herald_deliveries_total{outcome="deadlettered"}',
    )) ?? 0;
  const deadLettered = async () =>
    ((await metricValue(
      await (await fetch(`${broker.adminUrl}/metrics`)).text(),
      'herald_deliveries_total{outcome="deadlettered"}',
    )) ?? 0) - before;
  for (let round = 1; round < rounds; round++) {
    await until(deadLettered, (n) => n >= round * events, 180_000);
    const seeked = await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/seek`, {
      to: 'earliest',
    });
    expect(seeked.status).toBe(200);
  }
  expect(await until(deadLettered, (n) => n >= letters, 180_000)).toBe(letters);
  expect(
    await until(
      () => deadLettersHeld(broker, subscription.id),
      (n) => n === letters,
      180_000,
    ),
  ).toBe(letters);
  return subscription.id;
}

describe('redriving very many large dead letters (embedded store)', () => {
  const context = useBrokerAndSink(() => startBroker({ args: UNLIMITED }));

  it('delivers them all while the broker holds far less than their size', async () => {
    const { broker, sink } = context;
    const pid = broker.child.pid;
    if (pid === undefined) throw new Error('the broker has no pid');
    // 8,000 letters, 500 MiB of data.
    const letters = 8_000;
    const subscription = await manyDeadLetters(broker, sink, 'dev.herald.bigredrive', 500, 16, DATA);
    await sink.configure({ status: 200 });

    resetPeak(pid);
    const before = Math.max(memory(pid, 'VmRSS'), memory(pid, 'VmHWM'));
    const redrive = await requestJson<{ redriving: number }>(
      'POST',
      `${broker.adminUrl}/subscriptions/${subscription}/deadletters/redrive`,
    );
    expect(redrive.status, JSON.stringify(redrive.body)).toBe(202);
    expect(redrive.body.redriving).toBe(letters);
    // Every letter delivered (and so removed): the redrive ran to its end.
    expect(
      await until(
        () => deadLettersHeld(broker, subscription),
        (n) => n === 0,
        300_000,
      ),
    ).toBe(0);
    const growth = memory(pid, 'VmHWM') - before;

    // A redrive a page at a time holds a few MiB of the letters at once; one that listed them all held all
    // of them until the last was delivered. An eighth of their data leaves the collector ample room and
    // still tells the two apart.
    const total = letters * DATA_BYTES;
    expect(growth, `peak RSS grew by ${Math.round(growth / 2 ** 20)} MiB during the redrive`).toBeLessThan(
      total / 8,
    );
  }, 900_000);
});

describe('redriving by a very long list of ids (embedded store)', () => {
  // A control API that takes large bodies (the default 1 MiB holds some 130,000 short ids, against up to
  // 10,000 letters by default or any number with --dead-letter-max-letters 0: seconds of lookup already).
  const context = useBrokerAndSink(() => startBroker({ args: ['--max-control-request-size', '16MiB'] }));

  it('keeps answering /healthz while the ids are looked up', async () => {
    const { broker, sink } = context;
    // 10,000 small letters (the default --dead-letter-max-letters), and a body of 1.4 million ids (15 MiB,
    // within --max-control-request-size) none of which is a letter's: each compared with every letter,
    // 1.4·10¹⁰ comparisons, where a lookup in a set takes the parse of the body and one pass.
    const subscription = await manyDeadLetters(broker, sink, 'dev.herald.idsredrive', 1000, 10, undefined);
    const ids = Array.from({ length: 1_400_000 }, (_, i) => String(10_000_000 + i));

    let answered = false;
    const redrive = requestJson<{ code: string }>(
      'POST',
      `${broker.adminUrl}/subscriptions/${subscription}/deadletters/redrive`,
      { ids },
    ).finally(() => (answered = true));
    // Health checks one after another while the redrive is read and looked up; each gets a generous 20 s
    // (a timeout, not a measurement; the body's parse alone took seconds on a machine loaded by parallel
    // test files): a lookup on the event loop leaves one of them unanswered.
    const unanswered: string[] = [];
    while (!answered) {
      try {
        const health = await fetch(`${broker.adminUrl}/healthz`, { signal: AbortSignal.timeout(20_000) });
        await health.text();
      } catch (error) {
        unanswered.push((error as Error).name);
      }
      await sleep(100);
    }
    const answer = await redrive;
    expect(answer.status).toBe(404);
    expect(answer.body.code).toBe('HERALD_NOT_FOUND');
    expect(unanswered, 'a /healthz sent during the redrive was not answered within 20 s').toEqual([]);
    // Nothing was redriven.
    expect(await deadLettersHeld(broker, subscription)).toBe(10_000);
  }, 900_000);
});
