// A stream whose last message is one Herald's codec skips (published onto the broker's event subject by
// hand or by another tool). The store's last sequence counts that message while reads return no event
// for it: a reader that waits "for an append after the last event it read" must still wait, not find
// the wait answered at once and read the stream again and again (a busy loop of direct gets against
// nats-server, and a warning logged per turn, for as long as the stream ends that way). The events
// published after it must still reach every reader.
//
// Nothing here measures time: the requests nats-server received from everyone (`/varz` in_msgs) are
// counted over a window while the broker idles before the foreign message, and over a window of the
// same length after it. An idle reader makes a few requests per window (its periodic check, claims);
// a spinning one thousands.
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { startSink } from '../harness/processes.js';
import { sleep } from '../harness/client.js';
import { monitorJson, startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { foreignLastTests } from '../support/foreign-last-scenario.js';
import { killReplicas, startJetStreamBroker, uniqueBrokerName } from './brokers.js';

/** The length of each counting window: long enough for a spinning reader to make thousands of requests. */
const WINDOW_MS = 3_000;
const SKIPPED = 'skipping a message in the event stream that Herald did not write';

describe('jetstream: a stream whose last message Herald did not write', () => {
  let nats: NatsServer;
  let sink: SinkProcess;
  let admin: NatsConnection;
  const brokers: BrokerProcess[] = [];

  beforeAll(async () => {
    [nats, sink] = await Promise.all([startNatsServer(), startSink()]);
    admin = await connect({ servers: nats.url });
  }, 60_000);

  afterAll(async () => {
    await killReplicas(brokers);
    await admin?.close();
    await sink?.stop();
    await nats?.stop();
  });

  /** Messages nats-server received from every client during one window. */
  async function requestsOverWindow(): Promise<number> {
    const inMsgs = async () =>
      ((await monitorJson(nats.monitorPort, '/varz')) as { in_msgs: number }).in_msgs;
    const before = await inMsgs();
    await sleep(WINDOW_MS); // a measurement window, not a synchronisation
    return (await inMsgs()) - before;
  }

  /** A message without Herald's headers onto the broker's event subject, as another tool would publish. */
  async function publishForeign(brokerName: string): Promise<void> {
    const headers = natsHeaders();
    headers.set('Tool', 'by-hand');
    const reply = await admin.request(`herald.${brokerName}.events`, new TextEncoder().encode('not herald'), {
      headers,
      timeout: 5_000,
    });
    expect(typeof (JSON.parse(new TextDecoder().decode(reply.data)) as { seq?: number }).seq).toBe('number');
  }

  const sawSkip = (log: () => string) => async () => (log().includes(SKIPPED) ? true : undefined);

  foreignLastTests(
    {
      sink: () => sink,
      uniqueName: uniqueBrokerName,
      async startBroker(options) {
        const broker = await startJetStreamBroker(nats.url, options);
        brokers.push(broker);
        return broker;
      },
      stop: (broker) => killReplicas([broker]),
      async expectWaitingPast(brokerName, log) {
        const idle = await requestsOverWindow();
        await publishForeign(brokerName);
        // A reader finds it (the tail through its periodic check of the stream), reads it and skips it.
        await waitFor('a reader to read the foreign message', sawSkip(log), { timeoutMs: 30_000 });
        const afterForeign = await requestsOverWindow();
        // Idle, the readers make as few requests as before the foreign message (a few, whatever the machine's
        // load); re-reading the stream without pause, thousands.
        expect(afterForeign, `requests in the idle window: ${idle}`).toBeLessThanOrEqual(idle + 100);
      },
    },
    'foreign',
    'published',
  );
});
