// Two broker replicas serving one broker on a 3-node JetStream cluster (stream replicas 3), under a
// steady publish load to both, while one NATS node and one broker replica are killed with SIGKILL.
// Every event acknowledged with 202 must reach every subscription at least once (the scenario:
// test/support/failover-scenario.ts).
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startSink } from '../harness/processes.js';
import { startNatsCluster } from '../infra/nats/server.js';
import type { NatsCluster } from '../infra/nats/server.js';
import { runFailover } from '../support/failover-scenario.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';

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
    const jsm = await jetstreamManager(admin);
    let streamChecked = false;
    await runFailover(
      {
        name: 'jetstream',
        startReplica: async () => {
          const replica = await startJetStreamBroker(natsUrl, {
            brokerName,
            args: ['--stream-replicas', '3'],
          });
          if (!streamChecked) {
            const info = await jsm.streams.info(`HERALD_${brokerName}`);
            expect(info.config.num_replicas).toBe(3);
            streamChecked = true;
          }
          return replica;
        },
        killLeader: async () => {
          const leader = (await jsm.streams.info(`HERALD_${brokerName}`)).cluster?.leader;
          const node = cluster.servers.find((s) => s.name === leader) ?? cluster.servers[0];
          await node?.kill('SIGKILL');
          return { natsNode: node?.name, streamLeader: leader };
        },
        listedWithinMs: 10_000,
        deliveredWithinMs: 60_000,
        rate: 25,
        loadMs: 16_000,
        killAtMs: 6_000,
      },
      sink,
      replicas,
    );
  }, 150_000);
});
