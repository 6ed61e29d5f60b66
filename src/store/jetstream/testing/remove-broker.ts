import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Deletes every stream a broker named `broker` made on the server (its log, dead letters and KV buckets). */
export async function removeBrokerStreams(nc: NatsConnection, broker: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of [
    `HERALD_${broker}`,
    `HERALD_${broker}_deadletters`,
    `KV_herald_${broker}_cursors`,
    `KV_herald_${broker}_subscriptions`,
    `KV_herald_${broker}_claims`,
  ]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
}
