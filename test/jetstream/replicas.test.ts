// Two broker replicas serving one broker on a 3-node JetStream cluster (stream replicas 3), under a
// steady publish load to both, while one NATS node and one broker replica are killed with SIGKILL.
// Every event acknowledged with 202 must reach every subscription at least once.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson, sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startSink } from '../harness/processes.js';
import { startNatsCluster } from '../infra/nats/server.js';
import {
  LOAD_TYPE as TYPE,
  PATHS,
  duplicates,
  idsByPath,
  newLoad,
  publishLoad,
} from '../support/failover-load.js';
import type { LoadResult } from '../support/failover-load.js';
import type { NatsCluster } from '../infra/nats/server.js';
import { collectProblems, startJetStreamBroker, uniqueBrokerName } from './brokers.js';

/** Events per second each publisher offers (one publisher per broker replica). */
const RATE = 25;
const LOAD_MS = 16_000;
const KILL_AT_MS = 6_000;

describe('jetstream: two broker replicas, a 3-node cluster, and failures under load', () => {
  let cluster: NatsCluster;
  let admin: NatsConnection;
  let sink: SinkProcess;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [cluster, sink] = await Promise.all([startNatsCluster(3), startSink()]);
    admin = await connect({ servers: [...cluster.urls] });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    for (const replica of replicas) removeDir(replica.dataDir);
    await admin?.close();
    await Promise.all([sink?.stop(), cluster?.stop()]);
  });

  it('delivers every acknowledged event to every subscription at least once', async () => {
    const brokerName = uniqueBrokerName('ha');
    const natsUrl = cluster.urls.join(',');
    const start = () => startJetStreamBroker(natsUrl, { brokerName, args: ['--stream-replicas', '3'] });
    const a = await start();
    replicas.push(a);
    const b = await start();
    replicas.push(b);
    const problems = { a: collectProblems(a), b: collectProblems(b) };

    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(`HERALD_${brokerName}`);
    expect(info.config.num_replicas).toBe(3);

    const ids: string[] = [];
    for (const path of PATHS)
      ids.push((await subscribe(a.url, { sink: `${sink.url}${path}`, types: [TYPE] })).id);
    // The other replica learns of the definitions through the KV watch.
    for (let i = 0; ; i++) {
      const listed = await requestJson<unknown[]>('GET', `${b.adminUrl}/subscriptions`);
      if (listed.body.length === PATHS.length) break;
      if (i > 100) throw new Error(`replica b lists ${listed.body.length} subscriptions`);
      await sleep(100);
    }

    const load: LoadResult = newLoad();
    const until = Date.now() + LOAD_MS;
    const publishers = Promise.all([
      publishLoad('a', [a.url, b.url], until, RATE, load),
      publishLoad('b', [b.url, a.url], until, RATE, load),
    ]);

    await sleep(KILL_AT_MS);
    // Steady state: both replicas take events, one replica delivers each subscription, so nothing
    // has been delivered twice yet.
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

    const leader = (await jsm.streams.info(`HERALD_${brokerName}`)).cluster?.leader;
    const node = cluster.servers.find((s) => s.name === leader) ?? cluster.servers[0];
    const killedBroker = owners.every(([onA]) => onA) ? a : b;
    await Promise.all([node?.kill('SIGKILL'), killedBroker.stop('SIGKILL')]);
    const killedAt = Date.now();

    await publishers;
    const loadEnded = Date.now();
    const acknowledged = [...load.acknowledged];
    const deadline = Date.now() + 60_000;
    let byPath = idsByPath(await sink.received());
    const missing = () =>
      PATHS.map((path) => {
        const seen = new Set(byPath.get(path));
        return acknowledged.filter((id) => !seen.has(id)).length;
      });
    while (missing().some((m) => m > 0) && Date.now() < deadline) {
      await sleep(500);
      byPath = idsByPath(await sink.received());
    }
    const lastDelivery = Date.now();

    // The longest pause in deliveries after the kills: the claim TTL plus the takeover.
    const times = (await sink.received())
      .map((r) => r.at)
      .filter((at) => at >= killedAt)
      .sort((x, y) => x - y);
    const longestGap = Math.max(0, ...times.map((at, i) => at - (times[i - 1] ?? killedAt)));
    const report = {
      offered: load.offered,
      acknowledged: acknowledged.length,
      publishAttempts: load.attempts,
      refusedOrFailed: load.refused,
      steadyState: { delivered: steady, duplicates: steadyDuplicates, deliveringReplica: owners },
      killed: { natsNode: node?.name, streamLeader: leader, broker: killedBroker === a ? 'a' : 'b' },
      perSubscription: PATHS.map((path) => {
        const list = byPath.get(path) ?? [];
        return { path, deliveries: list.length, distinct: new Set(list).size, duplicates: duplicates(list) };
      }),
      missing: missing(),
      longestDeliveryGapAfterKillMs: longestGap,
      msFromKillToLoadEnd: loadEnded - killedAt,
      msFromLoadEndToAllDelivered: lastDelivery - loadEnded,
    };
    console.log(`jetstream failover report ${JSON.stringify(report, null, 2)}`);
    if (report.missing.some((m) => m > 0)) {
      console.log(`replica a warnings and errors:\n${problems.a.slice(-40).join('\n')}`);
      console.log(`replica b warnings and errors:\n${problems.b.slice(-40).join('\n')}`);
    }

    expect(acknowledged.length).toBeGreaterThan(100);
    expect(steadyDuplicates).toEqual([0, 0, 0]);
    expect(steady.every((n) => n > 0)).toBe(true);
    // Exactly one replica delivers each subscription.
    for (const [onA, onB] of owners) expect(onA !== onB).toBe(true);
    expect(report.missing).toEqual([0, 0, 0]);
  }, 150_000);
});
