// Subscription limits of a broker whose replicas share one JetStream store (what a Kubernetes Service in
// front of them spreads creates over). Each replica counted only what it held and what it was creating
// itself, so creates sent at once to two replicas passed each one's count: with
// `--max-subscriptions-total 3` (or `--max-subscriptions 3` for one principal), 10 creates spread over two
// replicas made 6 subscriptions, held and delivered by both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startSecureBroker } from '../security/fixtures.js';
import type { SecureBroker } from '../security/fixtures.js';
import { send } from '../support/http.js';
import { until } from '../../src/testing/until.js';
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

const LIMIT = 3;
const ATTEMPTS = 10;

type Ask = (
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: unknown }>;

/** Requests to one replica (as `alice` on a secure one). */
function asker(adminUrl: string, headers: Record<string, string> = {}): Ask {
  return async (method, path, body) => {
    const answer = await send(adminUrl, {
      method,
      path,
      headers: { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: answer.status, body: answer.body.length > 0 ? answer.json<unknown>() : undefined };
  };
}

const create = (ask: Ask, i: number) =>
  ask('POST', '/subscriptions', { sink: `http://127.0.0.1:9/s-${i}`, protocol: 'HTTP' });

async function listed(ask: Ask): Promise<string[]> {
  const answer = await ask('GET', '/subscriptions');
  return (answer.body as Array<{ id: string }>).map((s) => s.id).sort();
}

/**
 * Sends `ATTEMPTS` creates at once, alternately to each replica; answers the ids created (201), once both
 * replicas list the same subscriptions, and what they list.
 */
async function createAtOnce(replicas: readonly [Ask, Ask], refusal: number) {
  const answers = await Promise.all(
    Array.from({ length: ATTEMPTS }, (_, i) => create(replicas[i % 2] as Ask, 100 + i)),
  );
  expect(answers.filter((a) => a.status !== 201 && a.status !== refusal)).toEqual([]);
  const created = answers
    .filter((a) => a.status === 201)
    .map((a) => (a.body as { id: string }).id)
    .sort();
  // Refused creates are taken back before their answer: both replicas end up listing the same set.
  let lists: string[][] = [];
  await until('both replicas list the same subscriptions', async () => {
    lists = await Promise.all(replicas.map(listed));
    return (
      JSON.stringify(lists[0]) === JSON.stringify(lists[1]) &&
      JSON.stringify(lists[0]) === JSON.stringify(created)
    );
  }).catch(() => undefined);
  return { created, lists };
}

/** Runs the scenario against two replicas with a limit of `LIMIT` (refused with `refusal`). */
async function scenario(a: Ask, b: Ask, refusal: number): Promise<void> {
  // One after the other on different replicas: refused exactly at the limit, however far the other
  // replica has heard.
  const first = [await create(a, 1), await create(b, 2), await create(a, 3)];
  expect(first.map((r) => r.status)).toEqual([201, 201, 201]);
  expect((await create(b, 4)).status).toBe(refusal);
  expect((await create(a, 5)).status).toBe(refusal);
  // A delete on one replica frees quota on the other at once.
  const gone = (first[0]?.body as { id: string }).id;
  expect((await a('DELETE', `/subscriptions/${gone}`)).status).toBe(200);
  expect((await create(b, 6)).status).toBe(201);
  expect((await create(a, 7)).status).toBe(refusal);
  for (const id of await listed(a)) expect((await a('DELETE', `/subscriptions/${id}`)).status).toBe(200);

  // At once, spread over both replicas: never more than the limit, and what was answered 201 is what
  // both replicas hold.
  const { created, lists } = await createAtOnce([a, b], refusal);
  expect(created.length).toBeLessThanOrEqual(LIMIT);
  expect(lists).toEqual([created, created]);
}

describe('subscription limits across replicas sharing a JetStream store', () => {
  it(`--max-subscriptions-total ${LIMIT} holds for the broker, not per replica`, async () => {
    const brokerName = uniqueBrokerName('total');
    const args = ['--max-subscriptions-total', String(LIMIT)];
    const one = await startJetStreamBroker(nats.url, { brokerName, args });
    brokers.push(one);
    const two = await startJetStreamBroker(nats.url, { brokerName, args });
    brokers.push(two);
    await scenario(asker(one.adminUrl), asker(two.adminUrl), 409);
  });

  it(`--max-subscriptions ${LIMIT} holds for a principal, not per replica`, async () => {
    const brokerName = uniqueBrokerName('owner');
    const args = ['--max-subscriptions', String(LIMIT), '--store', 'jetstream', '--nats-url', nats.url];
    const replicas: SecureBroker[] = [];
    for (let i = 0; i < 2; i++) {
      const secure = await startSecureBroker([...args, '--broker-name', brokerName]);
      secured.push(secure);
      replicas.push(secure);
      await waitReady(secure.broker);
    }
    const [one, two] = replicas as [SecureBroker, SecureBroker];
    await scenario(
      asker(one.broker.adminUrl, one.bearer('alice')),
      asker(two.broker.adminUrl, two.bearer('alice')),
      403,
    );
    // Another principal's quota is its own.
    expect((await create(asker(two.broker.adminUrl, two.bearer('bob')), 200)).status).toBe(201);
  });
});
