import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { startNatsRelay } from '../../../test/infra/nats/relay.js';
import type { NatsRelay } from '../../../test/infra/nats/relay.js';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import type { EventStore } from '../../store/index.js';
import { createJetStreamStore } from '../../store/jetstream/index.js';
import { createKafkaStore } from '../../store/kafka/index.js';

// Distributed stores for tests of replicas that act before they heard another replica's write: one
// replica's hearing of the subscription writes can be held (`hold`) and let go (`release`).

export interface Backend {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * A store of `broker`, as one more replica; `lagging`: one whose hearing of the other replicas' writes
   * `hold` stops (until `release`), so that a change is certainly not heard when the test acts.
   */
  open(broker: string, lagging: boolean): Promise<EventStore>;
  hold(broker: string): void;
  release(): void;
}

/** JetStream: the lagging replica reaches the nats-server through a relay that holds its KV watch. */
export function jetStream(): Backend {
  let server: NatsServer | undefined;
  let relay: NatsRelay | undefined;
  return {
    name: 'jetstream',
    async start() {
      server = await startNatsServer();
      relay = await startNatsRelay(server.port, { framed: true });
    },
    async stop() {
      relay?.close();
      await server?.stop();
    },
    async open(broker, lagging) {
      const servers = lagging ? (relay as NatsRelay).url : (server as NatsServer).url;
      const store = createJetStreamStore({ servers, brokerName: broker });
      await store.whenReady();
      return store;
    },
    hold: (broker) => relay?.holdDeliveries(`KV_herald_${broker}_subscriptions`),
    release: () => relay?.release(),
  };
}

/**
 * Kafka: the state topic's follower reads everything at once, so the lagging replica is the real store
 * whose subscription watch reports nothing while held (what a replica whose follower lags hears), and
 * then all it held, in order. Everything else goes to the store as it is.
 */
export function kafka(): Backend {
  let cluster: KafkaCluster | undefined;
  let holding = false;
  const held: Array<() => void> = [];
  return {
    name: 'kafka',
    start: async () => void (cluster = await startKafkaCluster(1)),
    stop: async () => cluster?.stop(),
    async open(broker, lagging) {
      const store = createKafkaStore({ brokers: (cluster as KafkaCluster).bootstrap, brokerName: broker });
      await store.whenReady();
      if (!lagging) return store;
      const watch: EventStore['watchSubscriptions'] = (listener) =>
        store.watchSubscriptions((id, record) => {
          if (holding) held.push(() => listener(id, record));
          else listener(id, record);
        });
      return new Proxy(store, {
        get(target, property) {
          if (property === 'watchSubscriptions') return watch;
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const report of held.splice(0)) report();
    },
  };
}
