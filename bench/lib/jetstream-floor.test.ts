// SPDX-License-Identifier: Apache-2.0
// (e)'s JetStream floor against a real nats-server over loopback: every event it answered 202 is in its
// stream once (a repeated id is deduplicated by `Nats-Msg-Id`), and a body without an id is refused
// and not published.
import type { AddressInfo } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServer } from '../../test/infra/nats/server.js';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { JetStreamFloor } from './jetstream-floor.js';
import { createJetStreamFloor } from './jetstream-floor.js';

let nats: NatsServer;
let floor: JetStreamFloor;
let url: string;

beforeAll(async () => {
  nats = await startNatsServer();
  floor = await createJetStreamFloor(nats.url);
  await new Promise<void>((resolve) => floor.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(floor.server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  floor.server.closeAllConnections();
  floor.server.close();
  await floor.connection.close();
  await nats.stop();
});

describe('JetStream floor', () => {
  it('answers 202 once JetStream stored each id, once; refuses bodies without an id', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `e${i}`);
    const bodies = [...ids, 'e3'].map((id) => JSON.stringify({ id, data: id }));
    const post = async (body: string) => (await fetch(url, { method: 'POST', body })).status;
    const statuses = await Promise.all([...bodies, '{"data":1}', 'not json'].map(post));
    expect(statuses).toEqual([...bodies.map(() => 202), 400, 400]);
    const jsm = await jetstreamManager(floor.connection);
    const info = await jsm.streams.info(floor.stream);
    expect(info.state.messages).toBe(ids.length);
    const stored = await Promise.all(
      ids.map(async (_, index) =>
        (await jsm.streams.getMessage(floor.stream, { seq: index + 1 }))?.header.get('Nats-Msg-Id'),
      ),
    );
    expect(stored.sort()).toEqual([...ids].sort());
  });
});
