// Two replicas of one broker whose filter limits differ (a rolling change of --filter-max-nodes): a
// subscription one replica accepts and the other's limits refuse is not delivered by the stricter one —
// created that way, or changed that way from a definition it did deliver — but stays listed there, as
// `invalid` with the limit's error (unlisted, it could be neither seen nor deleted through that replica).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson, sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';

let nats: NatsServer;
const brokers: BrokerProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  for (const broker of brokers) {
    await broker.stop();
    removeDir(broker.dataDir);
  }
  await nats?.stop();
});

/** Seven CESQL comparisons: 22 nodes, within the default limits, over a limit of 10. */
const COSTLY = [{ sql: Array.from({ length: 7 }, (_, i) => `subject = 's${i}'`).join(' OR ') }];

async function listedIds(broker: BrokerProcess): Promise<string[]> {
  return (await requestJson<Array<{ id: string }>>('GET', `${broker.adminUrl}/subscriptions`)).body.map(
    (s) => s.id,
  );
}

/** The state and error `broker` lists subscription `id` with. */
async function stateOf(broker: BrokerProcess, id: string): Promise<unknown> {
  const { body } = await requestJson<{ status: { state: string; lastError: { code: string } | null } }>(
    'GET',
    `${broker.adminUrl}/subscriptions/${id}`,
  );
  return { state: body.status.state, code: body.status.lastError?.code };
}

const INVALID = { state: 'invalid', code: 'HERALD_FILTER_TOO_COSTLY' };

/** Creates a small subscription on `on` and waits until `other` lists it: `other` has applied what came before. */
async function marker(on: BrokerProcess, other: BrokerProcess): Promise<void> {
  const { id } = await subscribe(on.adminUrl, { sink: 'http://127.0.0.1:9/marker', types: ['marker'] });
  for (let i = 0; i < 200 && !(await listedIds(other)).includes(id); i++) await sleep(100);
  expect(await listedIds(other)).toContain(id);
}

describe('replicas whose --filter-max-nodes differ', () => {
  it('the stricter one lists as invalid, not delivering, a subscription over its limit, created or changed so', async () => {
    const brokerName = uniqueBrokerName('limits');
    const lenient = await startJetStreamBroker(nats.url, { brokerName });
    brokers.push(lenient);
    const strict = await startJetStreamBroker(nats.url, {
      brokerName,
      args: ['--filter-max-nodes', '10'],
    });
    brokers.push(strict);

    const created = await subscribe(lenient.adminUrl, { sink: 'http://127.0.0.1:9/costly', filters: COSTLY });
    await marker(lenient, strict);
    expect(await listedIds(strict)).toContain(created.id);
    expect(await stateOf(strict, created.id)).toEqual(INVALID);

    const changed = await subscribe(lenient.adminUrl, { sink: 'http://127.0.0.1:9/changed', types: ['t'] });
    for (let i = 0; i < 200 && !(await listedIds(strict)).includes(changed.id); i++) await sleep(100);
    expect(await listedIds(strict)).toContain(changed.id);
    const put = await requestJson('PUT', `${lenient.adminUrl}/subscriptions/${changed.id}`, {
      sink: 'http://127.0.0.1:9/changed',
      protocol: 'HTTP',
      filters: COSTLY,
    });
    expect(put.status).toBe(200);
    await marker(lenient, strict);
    expect(await stateOf(strict, changed.id)).toEqual(INVALID);
  });
});
