// SPDX-License-Identifier: Apache-2.0
// (g) Ingress on the Kafka store: the same load as (a) against `herald broker --store kafka`, compared
// with direct produce of 1 KB records with the same client (@platformatic/kafka, idempotent, acks=all) to
// a topic on the same Kafka node. Runs when the Kafka jars were fetched (test/infra/kafka/build.sh);
// otherwise the row says "not available" and why.
import type { Scenario } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import type { DirectProduceResult, KafkaHandle } from '../lib/kafka.js';
import { directProduce, kafkaHome, startKafka } from '../lib/kafka.js';
import type { ThroughputResult } from '../lib/load.js';
import { runStructuredLoad } from '../lib/load.js';
import { startBroker } from '../lib/processes.js';
import { formatNumber } from '../lib/report.js';

const NAME = 'ingress on the Kafka store, 1 structured 1 KB event per request, 50 connections';

async function waitReady(adminUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(200);
  }
  throw new Error(`the broker was not ready within ${timeoutMs} ms`);
}

export const kafkaScenario: Scenario = {
  id: 'g',
  title: 'ingress on the Kafka store',
  async run(context) {
    const out = output();
    const home = kafkaHome();
    if (home === undefined) {
      out.rows.push({
        scenario: 'g',
        name: NAME,
        value: null,
        unit: 'req/s',
        unavailable: 'no Kafka jars; fetch them with bash test/infra/kafka/build.sh',
      });
      return out;
    }
    let kafka: KafkaHandle | undefined;
    let direct: DirectProduceResult | undefined;
    let herald: ThroughputResult | undefined;
    let unavailable: string | undefined;
    try {
      kafka = await startKafka(home, context.placement);
      context.log(`  direct @platformatic/kafka produce, 1 KB, 256 per request, ${context.measureSec} s`);
      direct = await directProduce(kafka.bootstrap, 1024, context.measureSec);
      context.log(`  direct: ${formatNumber(direct.messagesPerSec)} msg/s`);
      let broker;
      try {
        broker = await startBroker({
          placement: context.placement,
          name: 'ingress-kafka',
          args: ['--store', 'kafka', '--kafka-brokers', kafka.bootstrap],
        });
        await waitReady(broker.adminUrl, 60_000);
      } catch (error) {
        await broker?.stop();
        broker = undefined;
        unavailable = `the broker did not start with --store kafka: ${((error as Error).message.split('\n')[0] ?? '').slice(0, 200)}`;
      }
      if (broker !== undefined) {
        try {
          const url = `${broker.url}/`;
          await runStructuredLoad(url, context.warmupSec);
          herald = await runStructuredLoad(url, context.measureSec);
          context.log(`  herald on kafka: ${formatNumber(herald.requestsPerSec)} req/s`);
        } finally {
          await broker.stop();
        }
      }
    } finally {
      await kafka?.stop();
    }
    const baseline =
      direct === undefined
        ? undefined
        : {
            name: 'direct @platformatic/kafka produce (idempotent, acks=all, 256 per request)',
            value: direct.messagesPerSec,
            unit: 'msg/s',
          };
    out.rows.push({
      scenario: 'g',
      name: NAME,
      value: herald?.requestsPerSec ?? null,
      unit: 'req/s',
      ...(herald === undefined
        ? {}
        : {
            detail: `p50 ${herald.latencyMs.p50} ms, p99 ${herald.latencyMs.p99} ms${herald.non2xx > 0 ? `, ${herald.non2xx} non-2xx` : ''}`,
          }),
      ...(baseline === undefined ? {} : { baseline }),
      ...(unavailable === undefined ? {} : { unavailable }),
      target: { kind: 'ratio-to-baseline', min: 0.5 },
      data: { herald, direct },
    });
    if (direct !== undefined) {
      out.notes.push(
        `Kafka baseline: 1 KB records, idempotent producer with acks=all, 256 records per request, one request in flight, ${formatNumber(direct.produced)} records in ${context.measureSec} s; one Kafka 4 node (KRaft, 512 MB heap) on the server core.`,
      );
    }
    return out;
  },
};
