// The failover scenario both distributed stores run (test/jetstream/replicas.test.ts,
// test/kafka/replicas.test.ts): two broker replicas of one broker under a steady publish load to both,
// then the store node leading the events and the replica delivering the subscriptions are killed with
// SIGKILL at once. Every event acknowledged with 202 must reach every subscription at least once.
import { expect } from 'vitest';
import { requestJson, sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { collectProblems } from '../jetstream/brokers.js';
import { LOAD_TYPE, PATHS, duplicates, idsByPath, newLoad, publishLoad } from './failover-load.js';
import type { LoadResult } from './failover-load.js';

export interface FailoverStore {
  /** `jetstream` or `kafka`: names the report. */
  readonly name: string;
  /** Starts one replica of the scenario's broker (the same broker name every call). */
  startReplica(): Promise<BrokerProcess>;
  /** Kills the store node that leads the events with SIGKILL; answers what the report says of it. */
  killLeader(): Promise<Record<string, unknown>>;
  /** Runs after the timed load, before deliveries are awaited (more load on the survivor, say). */
  afterLoad?(survivor: BrokerProcess, load: LoadResult, loadEnded: number): Promise<void>;
  /** Runs when an acknowledged event is missing, before the test fails: says where it went. */
  diagnose?(outcome: FailoverOutcome): Promise<void>;
  /** How long the subscriptions may take to show on the other replica. */
  readonly listedWithinMs: number;
  /** How long, after the load, every acknowledged event may take to be delivered. */
  readonly deliveredWithinMs: number;
  /** Events per second each publisher offers (one publisher per replica). */
  readonly rate: number;
  readonly loadMs: number;
  readonly killAtMs: number;
}

export interface FailoverOutcome {
  readonly replicas: { readonly a: BrokerProcess; readonly b: BrokerProcess };
  readonly survivor: BrokerProcess;
  readonly load: LoadResult;
  readonly acknowledged: readonly string[];
  readonly killedAt: number;
  readonly loadEnded: number;
  readonly received: readonly SinkRecord[];
  readonly byPath: Map<string, string[]>;
  /** Per path, how many acknowledged events it never received. */
  readonly missing: readonly number[];
  /** The report printed, for the store's own figures to join. */
  readonly report: Record<string, unknown>;
  /** Prints the replicas' recent warnings and errors. */
  printProblems(): void;
}

/**
 * Runs the scenario and checks what holds for every store: more than 100 events acknowledged, one
 * replica delivering each subscription before the kills and nothing delivered twice by then, and no
 * acknowledged event missing afterwards (the store's own checks follow on what it answers). `started` collects the replicas so the caller can stop them.
 */
export async function runFailover(
  store: FailoverStore,
  sink: SinkProcess,
  started: BrokerProcess[],
  extraReport: (
    outcome: Omit<FailoverOutcome, 'report' | 'printProblems'>,
  ) => Promise<Record<string, unknown>> = () => Promise.resolve({}),
): Promise<FailoverOutcome> {
  const a = await store.startReplica();
  started.push(a);
  const b = await store.startReplica();
  started.push(b);
  const problems = { a: collectProblems(a), b: collectProblems(b) };
  const printProblems = () => {
    console.log(`replica a warnings and errors:\n${problems.a.slice(-40).join('\n')}`);
    console.log(`replica b warnings and errors:\n${problems.b.slice(-40).join('\n')}`);
  };

  const ids: string[] = [];
  for (const path of PATHS)
    ids.push((await subscribe(a.url, { sink: `${sink.url}${path}`, types: [LOAD_TYPE] })).id);
  // The other replica learns of the definitions through the store.
  const listedBy = Date.now() + store.listedWithinMs;
  for (;;) {
    const listed = await requestJson<unknown[]>('GET', `${b.adminUrl}/subscriptions`);
    if (listed.body.length === PATHS.length) break;
    if (Date.now() > listedBy) throw new Error(`replica b lists ${listed.body.length} subscriptions`);
    await sleep(100);
  }

  const load = newLoad();
  const until = Date.now() + store.loadMs;
  const publishers = Promise.all([
    publishLoad('a', [a.url, b.url], until, store.rate, load),
    publishLoad('b', [b.url, a.url], until, store.rate, load),
  ]);

  await sleep(store.killAtMs);
  // Steady state: both replicas take events, one replica delivers each subscription, so nothing has
  // been delivered twice yet.
  const before = idsByPath(await sink.received());
  const steady = [...before.values()].map((list) => list.length);
  const steadyDuplicates = [...before.values()].map(duplicates);
  const owners = await Promise.all(
    ids.map(async (id) => {
      const views = await Promise.all(
        [a, b].map((r) =>
          requestJson<{ status: { cursor: number } }>('GET', `${r.adminUrl}/subscriptions/${id}`),
        ),
      );
      return views.map((v) => v.body.status.cursor > 0);
    }),
  );

  const killedBroker = owners.every(([onA]) => onA) ? a : b;
  const survivor = killedBroker === a ? b : a;
  const [killedNode] = await Promise.all([store.killLeader(), killedBroker.stop('SIGKILL')]);
  const killedAt = Date.now();

  await publishers;
  const loadEnded = Date.now();
  await store.afterLoad?.(survivor, load, loadEnded);
  const acknowledged = [...load.acknowledged];
  const deadline = Date.now() + store.deliveredWithinMs;
  let byPath = idsByPath(await sink.received());
  const missingNow = () =>
    PATHS.map((path) => {
      const seen = new Set(byPath.get(path));
      return acknowledged.filter((id) => !seen.has(id)).length;
    });
  while (missingNow().some((m) => m > 0) && Date.now() < deadline) {
    await sleep(500);
    byPath = idsByPath(await sink.received());
  }
  const lastDelivery = Date.now();
  const received = await sink.received();
  const missing = missingNow();

  // The longest pause in deliveries after the kills: the claim's time to live plus the takeover.
  const times = received
    .map((r) => r.at)
    .filter((at) => at >= killedAt)
    .sort((x, y) => x - y);
  const longestGap = Math.max(0, ...times.map((at, i) => at - (times[i - 1] ?? killedAt)));
  const outcome = {
    replicas: { a, b },
    survivor,
    load,
    acknowledged,
    killedAt,
    loadEnded,
    received,
    byPath,
    missing,
  };
  const report = {
    offered: load.offered,
    acknowledged: acknowledged.length,
    publishAttempts: load.attempts,
    refusedOrFailed: load.refused,
    steadyState: { delivered: steady, duplicates: steadyDuplicates, deliveringReplica: owners },
    killed: { ...killedNode, broker: killedBroker === a ? 'a' : 'b' },
    perSubscription: PATHS.map((path) => {
      const list = byPath.get(path) ?? [];
      return { path, deliveries: list.length, distinct: new Set(list).size, duplicates: duplicates(list) };
    }),
    missing,
    longestDeliveryGapAfterKillMs: longestGap,
    msFromKillToLoadEnd: loadEnded - killedAt,
    msFromLoadEndToAllDelivered: lastDelivery - loadEnded,
    ...(await extraReport(outcome)),
  };
  console.log(`${store.name} failover report ${JSON.stringify(report, null, 2)}`);
  const result = { ...outcome, report, printProblems };
  if (missing.some((m) => m > 0)) {
    printProblems();
    await store.diagnose?.(result);
  }

  expect(acknowledged.length).toBeGreaterThan(100);
  expect(steadyDuplicates).toEqual([0, 0, 0]);
  expect(steady.every((n) => n > 0)).toBe(true);
  // Exactly one replica delivers each subscription.
  for (const [onA, onB] of owners) expect(onA !== onB).toBe(true);
  expect(missing).toEqual([0, 0, 0]);
  return result;
}
