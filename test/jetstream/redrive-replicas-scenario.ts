// The scenario of redrives asked through two broker replicas that share a store (JetStream, Kafka), for
// test/jetstream/redrive-two-replicas.test.ts and test/kafka/redrive-two-replicas.test.ts. Each replica
// listed the same letters, and each must not deliver them: one letter delivered by both reaches the sink
// twice; refused again by both, it is stored as a dead letter twice ("no event or dead letter stored
// twice"). The sink holds the first replica's first letter until the second replica has taken the redrive,
// so both listings name every letter. Then a last letter is redriven through the second replica: its
// redrives run in order, so once that letter is settled whatever the second replica did with the others
// is done, and the sink's requests and the store's letters can be counted.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { publish, requestJson } from '../harness/client.js';
import { waitFor } from '../infra/process.js';
import { collectProblems } from './brokers.js';
import { startHoldingSink, subscribeUnretried } from './holding-sink.js';
import type { HeldRequest, HoldingSink } from './holding-sink.js';

interface Listed {
  deadLetters: Array<{ id: string; event: { id: string } }>;
}

const LETTERS = 3;

async function deadLetters(replica: BrokerProcess, id: string): Promise<Listed['deadLetters']> {
  const listed = await requestJson<Listed>('GET', `${replica.adminUrl}/subscriptions/${id}/deadletters`);
  expect(listed.status).toBe(200);
  return listed.body.deadLetters;
}

async function redrive(replica: BrokerProcess, id: string, ids?: string[]): Promise<number> {
  const answer = await requestJson<{ redriving: number }>(
    'POST',
    `${replica.adminUrl}/subscriptions/${id}/deadletters/redrive`,
    ids === undefined ? undefined : { ids },
  );
  expect(answer.status).toBe(202);
  return answer.body.redriving;
}

/**
 * The tests, inside a `describe`: `start` starts the store and returns its two replicas (sharing one broker
 * name) and how to stop the store once they are stopped.
 */
export function redriveAcrossReplicas(
  start: () => Promise<{ replicas: [BrokerProcess, BrokerProcess]; stop: () => Promise<void> }>,
): void {
  const replicas: BrokerProcess[] = [];
  const sinks: HoldingSink[] = [];
  /** Each replica's warnings and errors, for a failure's message. */
  const problems: string[][] = [];
  let stopStore: (() => Promise<void>) | undefined;
  let run = 0;

  beforeAll(async () => {
    const started = await start();
    stopStore = started.stop;
    for (const replica of started.replicas) {
      replicas.push(replica);
      problems.push(collectProblems(replica));
    }
  }, 180_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop('SIGKILL')));
    for (const replica of replicas) removeDir(replica.dataDir);
    await Promise.all(sinks.map((sink) => sink.close()));
    await stopStore?.();
  });

  /** `waitFor`, whose timeout also says what the replicas warned of (a redrive that failed says so). */
  const until = <T>(what: string, check: () => Promise<T | undefined>): Promise<T> =>
    waitFor(what, check, { timeoutMs: 60_000 }).catch((error: unknown) => {
      const said = problems
        .flat()
        .filter((line) => !line.includes('"msg":"dead-lettered"'))
        .join('\n');
      throw new Error(
        `${(error as Error).message}; the replicas warned of: ${said === '' ? 'nothing' : said}`,
      );
    });

  /**
   * A subscription on a fresh holding sink with `LETTERS` dead letters (and `answered`, the sink's requests
   * answered so far), and which replica delivers it.
   */
  async function deadLettered(prefix: string) {
    const sink = await startHoldingSink();
    sinks.push(sink);
    const answered = new Set<HeldRequest>();
    const answer = (held: HeldRequest, status: number): void => {
      answered.add(held);
      sink.answer(held, status);
    };
    const [a, b] = replicas as [BrokerProcess, BrokerProcess];
    // No retry: each refusal makes a dead letter at once.
    const { id, holder, other } = await subscribeUnretried([a, b], sink.url);
    const eventIds = Array.from({ length: LETTERS }, (_, i) => `${prefix}-${i}`);
    for (const eventId of eventIds) await publish(other.url, { id: eventId });
    await until('the events to be refused and dead-lettered', async () => {
      for (const held of sink.arrivals) if (!answered.has(held)) answer(held, 400);
      return (await deadLetters(other, id)).length === LETTERS ? true : undefined;
    });
    return { sink, answered, answer, id, holder, other, eventIds };
  }

  it.each([
    { first: 'holder', status: 200 },
    { first: 'holder', status: 400 },
    { first: 'other', status: 200 },
    { first: 'other', status: 400 },
  ] as const)(
    'asked through the $first first, then the other replica, sink answering $status: each letter once',
    async ({ first, status }) => {
      const prefix = `r${++run}`;
      const { sink, answered, answer, id, holder, other, eventIds } = await deadLettered(prefix);
      const [one, two] = first === 'holder' ? [holder, other] : [other, holder];
      const listed = await deadLetters(other, id);
      const original = listed.map((l) => l.id);
      const live = sink.arrivals.length;

      // The first replica's redrive sends the first letter, and the sink holds it ...
      expect(await redrive(one, id)).toBe(LETTERS);
      const held = await until('the first redriven letter', async () => sink.arrivals[live]);
      // The letters are redriven in id order (the refusals were stored in whatever order they ended).
      expect(held.eventId).toBe(listed[0]?.event.id);
      // ... while the second replica is asked: every letter is still stored, so its listing names them all.
      expect(await redrive(two, id)).toBe(LETTERS);
      // From now on the sink answers everything with `status`, but the barrier's event (below) is refused
      // when it is first delivered, to make it a dead letter.
      const lastEvent = `${prefix}-last`;
      let lastStored = false;
      const answerAll = (): void => {
        for (const arrival of sink.arrivals) {
          if (answered.has(arrival)) continue;
          answer(arrival, arrival.eventId === lastEvent && !lastStored ? 400 : status);
        }
      };
      await until('the letters redriven first to be settled', async () => {
        answerAll();
        const left = (await deadLetters(other, id)).map((l) => l.id);
        return original.every((letter) => !left.includes(letter)) ? true : undefined;
      });

      // The barrier: one more letter, redriven through the second replica after the others.
      await publish(other.url, { id: lastEvent });
      const last = await until('the last event to be dead-lettered', async () => {
        answerAll();
        return (await deadLetters(other, id)).find((l) => l.event.id === lastEvent);
      });
      lastStored = true;
      // Refused again, the first letters' new dead letters stay; the barrier names its letter only.
      expect(await redrive(two, id, [last.id])).toBe(1);
      const after = await until('the last letter to be redriven and settled', async () => {
        answerAll();
        const left = await deadLetters(other, id);
        return left.some((l) => l.id === last.id) ? undefined : left;
      });
      answerAll();

      // Each letter reached the sink once live (refused) and once redriven.
      const counts = new Map<string, number>();
      for (const arrival of sink.arrivals)
        counts.set(arrival.eventId, (counts.get(arrival.eventId) ?? 0) + 1);
      expect
        .soft(Object.fromEntries(counts))
        .toEqual(Object.fromEntries([...eventIds, lastEvent].map((e) => [e, 2])));
      // Refused again, each is a dead letter once more, once; accepted, none is left.
      expect(after.map((l) => l.event.id).sort()).toEqual(
        status === 200 ? [] : [...eventIds, lastEvent].sort(),
      );
    },
    150_000,
  );

  it('asked only through the replica that does not deliver the subscription: each letter once', async () => {
    const prefix = `r${++run}`;
    const { sink, answered, answer, id, other, eventIds } = await deadLettered(prefix);
    const original = (await deadLetters(other, id)).map((l) => l.id);
    expect(await redrive(other, id)).toBe(LETTERS);
    // Refused again: each letter must be a dead letter once more, once. Settled means its old letter is
    // gone (a refusal is stored anew first, then the old one deleted): counting letters and arrivals
    // instead, the barrier below could name the last old letter while it was still being redriven.
    await until('every redriven letter to be settled', async () => {
      for (const arrival of sink.arrivals) if (!answered.has(arrival)) answer(arrival, 400);
      const left = (await deadLetters(other, id)).map((l) => l.id);
      return left.length === LETTERS && original.every((letter) => !left.includes(letter)) ? true : undefined;
    });
    // The same barrier as above: a letter redriven after the others through the same replica.
    const before = await deadLetters(other, id);
    expect(await redrive(other, id, [before[0]?.id ?? ''])).toBe(1);
    const after = await until('the last letter to be redriven and settled', async () => {
      for (const arrival of sink.arrivals) if (!answered.has(arrival)) answer(arrival, 400);
      const left = await deadLetters(other, id);
      return left.some((l) => l.id === before[0]?.id) ? undefined : left;
    });
    const counts = new Map<string, number>();
    for (const arrival of sink.arrivals) counts.set(arrival.eventId, (counts.get(arrival.eventId) ?? 0) + 1);
    const firstId = before[0]?.event.id;
    expect(Object.fromEntries(counts)).toEqual(
      Object.fromEntries(eventIds.map((e) => [e, e === firstId ? 3 : 2])),
    );
    expect(after.map((l) => l.event.id).sort()).toEqual([...eventIds].sort());
  }, 150_000);
}
