// Dead letters are bounded: a subscription whose sink rejects everything, seeked back again and again,
// keeps at most --dead-letter-max-letters / --dead-letter-max-bytes of them (its newest), and each one
// removed is counted in herald_dead_letters_dropped_total{reason}.
import { describe, expect, it } from 'vitest';
import { publishBatch, requestJson, subscribe } from '../harness/client.js';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import { metricValue } from '../support/http.js';
import { until } from '../support/until.js';

const EVENTS = 20;
const SEEKS = 3;
const DATA = 'x'.repeat(10 * 1024);

interface DeadLetterPage {
  readonly deadLetters: Array<{ id: string; sequence: number }>;
}

async function metrics(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}

describe('dead letters over --dead-letter-max-letters and --dead-letter-max-bytes', () => {
  const context = useBrokerAndSink(() =>
    startBroker({ args: ['--dead-letter-max-letters', '12', '--dead-letter-max-bytes', '50KiB'] }),
  );

  it('keeps the newest within both limits and counts every letter removed, by reason', async () => {
    const { broker, sink } = context;
    // A redirect is never followed: every delivery is rejected and dead-lettered at once.
    await sink.configure({ status: 307 });
    await publishBatch(
      broker.url,
      Array.from({ length: EVENTS }, (_, i) => ({
        id: `dl-${i + 1}`,
        source: '/bounds',
        type: 'dev.herald.deadletter',
        data: DATA,
      })),
    );
    const subscription = await subscribe(broker.adminUrl, {
      sink: `${sink.url}/reject`,
      startAt: 'earliest',
      filters: [{ exact: { type: 'dev.herald.deadletter' } }],
      // One attempt at a time, so letters are stored in log order and "the newest" are the last sequences.
      // With attempts in flight together, a letter is stored when its attempt fails: the last round's
      // last four stored could be 15–18 as well as 17–20 (CI read both).
      delivery: { maxInFlight: 1 },
    });
    const deadLettered = async () =>
      metricValue(await metrics(broker.adminUrl), 'herald_deliveries_total{outcome="deadlettered"}') ?? 0;
    for (let seek = 1; seek <= SEEKS; seek++) {
      await until(deadLettered, (n) => n >= seek * EVENTS, 30_000);
      const seeked = await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/seek`, {
        to: 'earliest',
      });
      expect(seeked.status).toBe(200);
    }
    const total = (SEEKS + 1) * EVENTS;
    expect(await until(deadLettered, (n) => n >= total, 30_000)).toBe(total);

    // 50KiB holds four letters of 10KiB and attributes; twelve would be allowed by count alone.
    const held = async () =>
      (
        await requestJson<DeadLetterPage>(
          'GET',
          `${broker.adminUrl}/subscriptions/${subscription.id}/deadletters?limit=1000`,
        )
      ).body.deadLetters;
    const kept = await until(held, (letters) => letters.length <= 4, 30_000);
    // The last round's four, in the order they were stored.
    expect(kept.map((letter) => letter.sequence)).toEqual([17, 18, 19, 20]);
    // The subscription's status counts what is kept, not what was ever dead-lettered.
    const status = async () =>
      (
        await requestJson<{ status: { deadLettered: number } }>(
          'GET',
          `${broker.adminUrl}/subscriptions/${subscription.id}`,
        )
      ).body.status.deadLettered;
    expect(await until(status, (n) => n === 4, 30_000)).toBe(4);

    const text = await metrics(broker.adminUrl);
    const byCount = metricValue(text, 'herald_dead_letters_dropped_total{reason="max-letters"}') ?? 0;
    const byBytes = metricValue(text, 'herald_dead_letters_dropped_total{reason="max-bytes"}') ?? 0;
    expect(byCount).toBeGreaterThan(0);
    expect(byBytes).toBeGreaterThan(0);
    expect(byCount + byBytes).toBe(total - 4);
  }, 120_000);
});
