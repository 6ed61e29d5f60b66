// A stored subscription the broker cannot start (a stricter limit since it was created: an upgrade whose
// validation got stricter, a restart with lower filter limits) must not vanish. It stays listed, with a
// status that says it delivers nothing and why, keeps its cursor and dead letters, counts toward the
// subscription limits, and can be deleted, or PUT with a valid definition to deliver again from where
// it stood. Before, it was neither listed nor deletable nor counted, and a PUT answered 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../client/run-cli.js';
import { publish, requestJson, subscribe } from '../harness/client.js';
import type { SubscriptionBody } from '../harness/client.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';

/** Three LIKE patterns: within the default `--filter-max-like-patterns` (32), over 1. */
const COSTLY = "type LIKE 'a.%' OR type LIKE 'b.%' OR type LIKE 'c.%'";
const STRICT = ['--filter-max-like-patterns', '1', '--max-subscriptions-total', '2'];

interface DeadLetterPage {
  readonly deadLetters: Array<{ id: string; sequence: number; event: { id: string } }>;
}

describe('a stored subscription a stricter broker cannot start', () => {
  let sink: SinkProcess;
  const brokers: BrokerProcess[] = [];
  let dataDir: string;

  beforeAll(async () => {
    sink = await startSink();
    // Every delivery is refused for good: each event becomes a dead letter, and the cursor moves past it.
    await sink.configure({ status: 400 });
  });
  afterAll(async () => {
    for (const broker of brokers) await broker.stop('SIGKILL');
    await sink.stop();
    if (dataDir !== undefined) removeDir(dataDir);
  });

  const start = async (args: string[] = []): Promise<BrokerProcess> => {
    const broker = await startBroker({ args, ...(dataDir === undefined ? {} : { dataDir }) });
    dataDir = broker.dataDir;
    brokers.push(broker);
    return broker;
  };

  /** The `herald_subscription_invalid` series the broker exposes, as `subscription code value`. */
  const invalidSeries = async (broker: BrokerProcess): Promise<string[]> => {
    const text = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('herald_subscription_invalid{'))
      .map((line) => {
        const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        return `${labels['subscription']} ${labels['code']} ${line.split(' ').pop()}`;
      })
      .sort();
  };

  const deadLetters = async (broker: BrokerProcess, id: string) =>
    requestJson<DeadLetterPage>('GET', `${broker.adminUrl}/subscriptions/${id}/deadletters?limit=100`);

  it('stays listed as invalid, counted, deletable, and delivers again from its cursor once PUT valid', async () => {
    let broker = await start();
    const body = {
      protocol: 'HTTP',
      sink: sink.url,
      filters: [{ sql: COSTLY }],
      startAt: 'earliest',
      delivery: { retry: 0 },
    };
    const kept = await subscribe(broker.adminUrl, body);
    const dropped = await subscribe(broker.adminUrl, body);
    for (const id of ['a.1', 'b.2', 'c.3']) await publish(broker.url, { id, type: id });
    for (const subscription of [kept, dropped]) {
      await expect
        .poll(async () => (await deadLetters(broker, subscription.id)).body.deadLetters.length, {
          timeout: 30_000,
        })
        .toBe(3);
    }
    await broker.stop();

    broker = await start(STRICT);
    const listed = await requestJson<SubscriptionBody[]>('GET', `${broker.adminUrl}/subscriptions`);
    expect(listed.body.map((s) => s.id).sort()).toEqual([kept.id, dropped.id].sort());
    const one = await requestJson<SubscriptionBody>('GET', `${broker.adminUrl}/subscriptions/${kept.id}`);
    expect(one.status).toBe(200);
    expect(one.body.status.state).toBe('invalid');
    expect(one.body.status.lastError).toMatchObject({ code: 'HERALD_FILTER_TOO_COSTLY' });
    expect((await deadLetters(broker, kept.id)).body.deadLetters).toHaveLength(3);
    expect(await invalidSeries(broker)).toEqual(
      [kept.id, dropped.id].map((id) => `${id} HERALD_FILTER_TOO_COSTLY 1`).sort(),
    );
    const status = await runCli(['status', '--url', broker.adminUrl, '--interval', '100', '-o', 'json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ subscriptions: 2, failing: 0, invalid: 2 });

    // Both are stored: --max-subscriptions-total 2 has no room for a third.
    const third = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
      protocol: 'HTTP',
      sink: sink.url,
    });
    expect(third.status).toBe(409);

    // Pausing, seeking or redriving what cannot start is refused, saying why.
    const pause = await requestJson('POST', `${broker.adminUrl}/subscriptions/${kept.id}/pause`);
    expect(pause.status).toBe(409);

    // The same definition is refused again; a valid one brings it back from its cursor: the three
    // events already dead-lettered are not delivered again.
    const same = await requestJson('PUT', `${broker.adminUrl}/subscriptions/${kept.id}`, body);
    expect(same.body).toMatchObject({ status: 400, code: 'HERALD_FILTER_TOO_COSTLY' });
    const put = await requestJson<SubscriptionBody>('PUT', `${broker.adminUrl}/subscriptions/${kept.id}`, {
      ...body,
      filters: [{ sql: "type LIKE '%.%'" }],
    });
    expect(put.status).toBe(200);
    expect(put.body.status.state).not.toBe('invalid');
    expect(await invalidSeries(broker)).toEqual([`${dropped.id} HERALD_FILTER_TOO_COSTLY 1`]);
    await publish(broker.url, { id: 'd.4', type: 'd.4' });
    await expect
      .poll(async () => (await deadLetters(broker, kept.id)).body.deadLetters.map((l) => l.event.id), {
        timeout: 30_000,
      })
      .toContain('d.4');
    expect((await deadLetters(broker, kept.id)).body.deadLetters.map((l) => l.event.id)).toEqual([
      'a.1',
      'b.2',
      'c.3',
      'd.4',
    ]);

    const deleted = await requestJson('DELETE', `${broker.adminUrl}/subscriptions/${dropped.id}`);
    expect(deleted.status).toBe(200);
    expect((await requestJson('GET', `${broker.adminUrl}/subscriptions/${dropped.id}`)).status).toBe(404);
    expect(await invalidSeries(broker)).toEqual([]);
    await broker.stop();

    // Deleted from the store, with its dead letters: not back after a restart, even with looser limits.
    broker = await start();
    const after = await requestJson<SubscriptionBody[]>('GET', `${broker.adminUrl}/subscriptions`);
    expect(after.body.map((s) => s.id)).toEqual([kept.id]);
    expect((await deadLetters(broker, dropped.id)).status).toBe(404);
  });
});
