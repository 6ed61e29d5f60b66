// The scenario of subscription limits on two broker replicas sharing a store (JetStream, Kafka), for
// test/jetstream/replica-subscription-limits.test.ts and test/kafka/replica-subscription-limits.test.ts:
// what a Kubernetes Service in front of the replicas spreads creates over. Each replica counted only what
// it held and what it was creating itself, so creates sent at once to two replicas passed each one's count:
// with `--max-subscriptions-total 3` (or `--max-subscriptions 3` for one principal), 10 creates spread over
// two replicas made 6 subscriptions, held and delivered by both.
import { afterEach, expect, it } from 'vitest';
import { send } from '../support/http.js';
import { until } from '../../src/testing/until.js';

/** Two replicas of one broker started with the given flags (as `alice` and `bob` when `secure`). */
export interface LimitReplicas {
  readonly urls: readonly [string, string];
  /** The credentials of a principal (secure replicas). */
  readonly bearer?: (principal: 'alice' | 'bob') => Record<string, string>;
  stop(): Promise<void>;
}

export type StartLimitReplicas = (args: readonly string[], secure: boolean) => Promise<LimitReplicas>;

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

/** The scenario's tests, on two replicas `start` makes. */
export function limitsAcrossReplicas(start: StartLimitReplicas): void {
  let started: LimitReplicas | undefined;
  afterEach(async () => {
    await started?.stop();
    started = undefined;
  }, 60_000);

  it(`--max-subscriptions-total ${LIMIT} holds for the broker, not per replica`, async () => {
    started = await start(['--max-subscriptions-total', String(LIMIT)], false);
    const [one, two] = started.urls;
    await scenario(asker(one), asker(two), 409);
  }, 180_000);

  it(`--max-subscriptions ${LIMIT} holds for a principal, not per replica`, async () => {
    started = await start(['--max-subscriptions', String(LIMIT)], true);
    const [one, two] = started.urls;
    const bearer = started.bearer as NonNullable<LimitReplicas['bearer']>;
    await scenario(asker(one, bearer('alice')), asker(two, bearer('alice')), 403);
    // Another principal's quota is its own.
    expect((await create(asker(two, bearer('bob')), 200)).status).toBe(201);
  }, 180_000);
}
