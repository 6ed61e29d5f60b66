// Deleting a subscription removes its dead letters without holding them: with --dead-letter-max-letters 0
// (unlimited) a subscription may keep hundreds of thousands, each with its event's data, and a delete that
// read them all at once (to learn their ids) held every payload in the broker's memory together — gigabytes,
// an out-of-memory kill taking every acknowledged event in flight with it.
import Database from 'better-sqlite3';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { publishBatch, requestJson, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startJetStreamBroker, uniqueBrokerName } from '../jetstream/brokers.js';
import { metricValue } from '../support/http.js';
import { until } from '../support/until.js';
import { memory, resetPeak } from '../support/process-memory.js';

const DATA_BYTES = 64 * 1024;
const DATA = 'x'.repeat(DATA_BYTES);

interface Measured {
  readonly id: string;
  /** Bytes the peak RSS grew by during the DELETE. */
  readonly growth: number;
  /** Bytes of event data the letters held. */
  readonly total: number;
}

/**
 * Makes `events × rounds` dead letters of 64 KiB data for one subscription (every round seeks back to
 * the first event once the last round's letters are all stored), then deletes the subscription and
 * measures how far the broker's peak RSS grew meanwhile.
 */
async function deleteMeasured(
  broker: BrokerProcess,
  sink: SinkProcess,
  events: number,
  rounds: number,
): Promise<Measured> {
  const pid = broker.child.pid;
  if (pid === undefined) throw new Error('the broker has no pid');
  const letters = events * rounds;
  // A redirect is never followed: every delivery is rejected and dead-lettered at once.
  await sink.configure({ status: 307 });
  for (let from = 0; from < events; from += 100) {
    await publishBatch(
      broker.url,
      Array.from({ length: Math.min(100, events - from) }, (_, i) => ({
        id: `big-${from + i + 1}`,
        source: '/bounds',
        type: 'dev.herald.bigdeadletter',
        data: DATA,
      })),
    );
  }
  const subscription = await subscribe(broker.adminUrl, {
    sink: `${sink.url}/reject`,
    startAt: 'earliest',
    delivery: { retry: 0, ordering: 'none', maxInFlight: 64 },
    filters: [{ exact: { type: 'dev.herald.bigdeadletter' } }],
  });
  const deadLettered = async () =>
    metricValue(
      await (await fetch(`${broker.adminUrl}/metrics`)).text(),
      'herald_deliveries_total{outcome="deadlettered"}',
    ) ?? 0;
  for (let round = 1; round < rounds; round++) {
    await until(deadLettered, (n) => n >= round * events);
    const seeked = await requestJson('POST', `${broker.adminUrl}/subscriptions/${subscription.id}/seek`, {
      to: 'earliest',
    });
    expect(seeked.status).toBe(200);
  }
  expect(await until(deadLettered, (n) => n >= letters)).toBe(letters);
  const held = async () =>
    (
      await requestJson<{ status: { deadLettered: number } }>(
        'GET',
        `${broker.adminUrl}/subscriptions/${subscription.id}`,
      )
    ).body.status.deadLettered;
  expect(await until(held, (n) => n === letters)).toBe(letters);

  resetPeak(pid);
  const before = Math.max(memory(pid, 'VmRSS'), memory(pid, 'VmHWM'));
  const deleted = await fetch(`${broker.adminUrl}/subscriptions/${subscription.id}`, { method: 'DELETE' });
  // Read before the peak: an answer other than 200 says why (a problem document).
  const answer = await deleted.text();
  const growth = memory(pid, 'VmHWM') - before;
  expect(deleted.status, answer).toBe(200);
  return { id: subscription.id, growth, total: letters * DATA_BYTES };
}

/**
 * A delete in bounded steps holds a few MiB of the letters at a time; one that listed them first held all
 * of them. An eighth of their data leaves the collector ample room and still tells the two apart.
 */
function expectBounded({ growth, total }: Measured): void {
  expect(growth, `peak RSS grew by ${Math.round(growth / 2 ** 20)} MiB during the delete`).toBeLessThan(
    total / 8,
  );
}

const UNLIMITED = [
  '--dead-letter-max-letters',
  '0',
  '--dead-letter-max-bytes',
  '0',
  '--dead-letter-max-age',
  '0',
];

describe('deleting a subscription with very many dead letters (embedded store)', () => {
  const context = useBrokerAndSink(() => startBroker({ args: UNLIMITED }));

  it('removes them all while the broker holds far less than their size', async () => {
    // 20,000 letters, 1.25 GiB of data.
    const measured = await deleteMeasured(context.broker, context.sink, 1000, 20);
    expectBounded(measured);
    // And every letter is gone: read from the broker's own database file (a reader beside it, as WAL allows).
    const db = new Database(path.join(context.broker.dataDir, 'default.db'), { readonly: true });
    try {
      const left = db
        .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM dead_letters WHERE subscription = ?')
        .get(measured.id);
      expect(left?.n).toBe(0);
    } finally {
      db.close();
    }
  }, 600_000);
});

describe('deleting a subscription with very many dead letters (JetStream store)', () => {
  const brokerName = uniqueBrokerName('dlbig');
  let nats: NatsServer | undefined;
  // Registered before the broker's: hooks after the tests run last-registered first, so the server stops
  // after the broker.
  afterAll(async () => {
    await nats?.stop();
  });
  const context = useBrokerAndSink(async () => {
    nats = await startNatsServer();
    return startJetStreamBroker(nats.url, { brokerName, args: UNLIMITED });
  });

  it('removes them all while the broker holds far less than their size', async () => {
    // 8,000 letters, 500 MiB of data (each a JetStream publish: fewer, to keep the run short).
    const measured = await deleteMeasured(context.broker, context.sink, 500, 16);
    expectBounded(measured);
    const admin = await connect({ servers: (nats as NatsServer).url });
    try {
      const info = await (await jetstreamManager(admin)).streams.info(`HERALD_${brokerName}_deadletters`);
      expect(info.state.messages).toBe(0);
    } finally {
      await admin.close();
    }
  }, 600_000);
});
