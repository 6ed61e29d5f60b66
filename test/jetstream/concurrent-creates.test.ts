// Subscription limits against creates sent together, on a JetStream broker: a create waits for its start
// position (a round trip to the server) between its check and holding its definition, and the creates
// checked meanwhile must count it. Counted by what was held alone, 100 creates sent at once past
// `--max-subscriptions-total 5` made up to 34 subscriptions, past `--max-subscriptions` as many.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startSecureBroker } from '../security/fixtures.js';
import type { SecureBroker } from '../security/fixtures.js';
import { send } from '../support/http.js';
import { startJetStreamBroker, uniqueBrokerName, waitReady } from './brokers.js';

let nats: NatsServer;
const brokers: BrokerProcess[] = [];
const secured: SecureBroker[] = [];
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  for (const broker of [...brokers, ...secured.map((s) => s.broker)]) {
    await broker.stop();
    removeDir(broker.dataDir);
  }
  for (const secure of secured) removeDir(secure.dir);
  await nats?.stop();
});

const ATTEMPTS = 100;

describe('subscription limits under creates sent at once (jetstream)', () => {
  it('--max-subscriptions-total 5: of 100 creates at once, 5 answer 201 and 5 are listed', async () => {
    const broker = await startJetStreamBroker(nats.url, { args: ['--max-subscriptions-total', '5'] });
    brokers.push(broker);
    const answers = await Promise.all(
      Array.from({ length: ATTEMPTS }, (_, i) =>
        requestJson('POST', `${broker.adminUrl}/subscriptions`, {
          sink: `http://127.0.0.1:9/sink-${i}`,
          protocol: 'HTTP',
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    const listed = (await requestJson<unknown[]>('GET', `${broker.adminUrl}/subscriptions`)).body.length;
    expect({
      created: statuses.filter((s) => s === 201).length,
      refused: statuses.filter((s) => s === 409).length,
      listed,
    }).toEqual({ created: 5, refused: ATTEMPTS - 5, listed: 5 });
  });

  it('--max-subscriptions 3: of 100 creates of one principal at once, 3 answer 201 and 3 are listed', async () => {
    const secure = await startSecureBroker([
      '--max-subscriptions',
      '3',
      '--store',
      'jetstream',
      '--nats-url',
      nats.url,
      '--broker-name',
      uniqueBrokerName('owner-limit'),
    ]);
    secured.push(secure);
    await waitReady(secure.broker);
    const answers = await Promise.all(
      Array.from({ length: ATTEMPTS }, (_, i) =>
        send(secure.broker.adminUrl, {
          method: 'POST',
          path: '/subscriptions',
          headers: { ...secure.bearer('alice'), 'content-type': 'application/json' },
          body: JSON.stringify({ sink: `http://127.0.0.1:9/alice/${i}`, protocol: 'HTTP' }),
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    const listed = await send(secure.broker.adminUrl, {
      method: 'GET',
      path: '/subscriptions',
      headers: secure.bearer('alice'),
    });
    expect({
      created: statuses.filter((s) => s === 201).length,
      refused: statuses.filter((s) => s === 403).length,
      listed: listed.json<unknown[]>().length,
    }).toEqual({ created: 3, refused: ATTEMPTS - 3, listed: 3 });
  });
});
