import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import { sampleEvent } from '../testing/conformance.js';
import { createJetStreamStore } from './jetstream-store.js';
import type { JetStreamEventStore } from './jetstream-store.js';
import { removeBrokerStreams } from './testing/remove-broker.js';

// One real nats-server for the file; each test has its own broker name (stream and buckets).
let server: NatsServer;
let admin: NatsConnection;
let brokers = 0;

beforeAll(async () => {
  server = await startNatsServer();
  admin = await connect({ servers: server.url });
});

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

const nextBroker = () => `undecodable${process.pid}-${++brokers}`;

async function open(broker: string): Promise<JetStreamEventStore> {
  const store = createJetStreamStore({ servers: server.url, brokerName: broker });
  await store.whenReady();
  return store;
}

/** Publishes a message by hand (onto the event subject by default) and waits for its ack. */
async function publishByHand(
  broker: string,
  body: string,
  pairs: ReadonlyArray<[string, string]>,
  subject = `herald.${broker}.events`,
) {
  const headers = natsHeaders();
  for (const [name, value] of pairs) headers.set(name, value);
  const reply = await admin.request(subject, new TextEncoder().encode(body), {
    headers,
    timeout: 5_000,
  });
  const ack = JSON.parse(new TextDecoder().decode(reply.data)) as { seq?: number };
  expect(typeof ack.seq).toBe('number');
}

describe('the jetstream store and messages its codec cannot decode', () => {
  it("skips a message with Herald's headers whose attributes or trace are not Herald's JSON; the events after it are read", async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      await store.append([{ event: sampleEvent('before') }]);
      // Written by hand (or by a tool, or cut short): Herald's headers, but no JSON object of attributes.
      const body = 'not json at all';
      await publishByHand(broker, body, [
        ['Herald-Attrs', String(Buffer.byteLength(body))],
        ['Herald-Kind', '0'],
      ]);
      await publishByHand(broker, 'null', [
        ['Herald-Attrs', '4'],
        ['Herald-Kind', '0'],
      ]);
      const attrs = JSON.stringify({ specversion: '1.0', id: 'x', source: '/s', type: 't' });
      await publishByHand(broker, attrs, [
        ['Herald-Attrs', String(Buffer.byteLength(attrs))],
        ['Herald-Kind', '0'],
        ['Herald-Trace', '{broken'],
      ]);
      await store.append([{ event: sampleEvent('after') }]);

      // From the start, and from the first message Herald cannot decode: every read gets past them.
      const all = await store.read(1, 10);
      expect(all.map((e) => [e.sequence, e.event.attributes['id']])).toEqual([
        [1, 'before'],
        [5, 'after'],
      ]);
      expect((await store.read(2, 10)).map((e) => e.sequence)).toEqual([5]);
    } finally {
      await store.close();
      await removeBrokerStreams(admin, broker);
    }
  });

  it('reads past a run of messages Herald did not write: a short page is never empty while events follow', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      await store.append([{ event: sampleEvent('before') }]);
      // Two messages by hand, without Herald's headers (a tool publishing onto the subject).
      await publishByHand(broker, 'one', []);
      await publishByHand(broker, 'two', []);
      await store.append([{ event: sampleEvent('after') }]);
      // An empty answer means "nothing at or after 2" to every reader (`GET /events` ends its page there,
      // a subscription catching up jumps to the tail): the page must reach the event at 4.
      expect((await store.read(2, 1)).map((e) => e.sequence)).toEqual([4]);
      expect((await store.read(2, 2)).map((e) => e.sequence)).toEqual([4]);
      expect(await store.read(5, 1)).toEqual([]);
    } finally {
      await store.close();
      await removeBrokerStreams(admin, broker);
    }
  });

  it("lists a subscription's dead letters past one whose error header is not Herald's JSON", async () => {
    const broker = nextBroker();
    const store = await open(broker);
    const letter = (id: string) => ({
      subscription: 'sub-1',
      sequence: 1,
      event: sampleEvent(id),
      trace: undefined,
      error: { code: 'HERALD_SINK_REJECTED', message: '400 Bad Request', status: 400 },
      attempts: 1,
      deadLetteredAt: 1234,
    });
    try {
      const first = await store.addDeadLetter(letter('first'));
      const attrs = JSON.stringify({ specversion: '1.0', id: 'x', source: '/s', type: 't' });
      await publishByHand(
        broker,
        attrs,
        [
          ['Herald-Attrs', String(Buffer.byteLength(attrs))],
          ['Herald-Kind', '0'],
          ['Herald-Sequence', '1'],
          ['Herald-Error', 'not json'],
          ['Herald-Attempts', '1'],
          ['Herald-At', '1234'],
        ],
        `herald.${broker}.deadletters.sub-1`,
      );
      const last = await store.addDeadLetter(letter('last'));
      const listed = await store.listDeadLetters('sub-1', 10);
      expect(listed.map((l) => [l.id, l.event.attributes['id']])).toEqual([
        [first.id, 'first'],
        [last.id, 'last'],
      ]);
    } finally {
      await store.close();
      await removeBrokerStreams(admin, broker);
    }
  });
});
