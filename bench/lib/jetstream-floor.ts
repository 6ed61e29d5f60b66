// SPDX-License-Identifier: Apache-2.0
// The JetStream floor of (e): the least a node:http server can do and still answer 202 only once
// JetStream has acknowledged an event. It reads each body, parses it as JSON for the event's id, and
// publishes the bodies that arrived in one event-loop turn to a file-backed stream of its own, each with
// that id as `Nats-Msg-Id` and a reply subject under one inbox subscription; each publisher hears 202
// when its PubAck arrives. Group publishing as Herald's JetStream store does it, without the
// CloudEvents decode, validation, headers, limits or timeouts; so its ratio to the direct publisher says
// how much of (e)'s target a broker can reach on the machine.
import type { Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { answer, onBody } from './floor-http.js';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect, createInbox, headers } from '@nats-io/transport-node';

export interface JetStreamFloor {
  readonly server: Server;
  /** The stream it publishes to, named by the time it was made. */
  readonly stream: string;
  readonly connection: NatsConnection;
}

/** Connects to `natsUrl`, makes the floor's stream, and returns its (not yet listening) server. */
export async function createJetStreamFloor(natsUrl: string): Promise<JetStreamFloor> {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  const stream = `FLOOR_${Date.now()}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const subject = `${stream}.events`;
  const inbox = createInbox();
  const waiting = new Map<string, ServerResponse>();
  let next = 0;

  nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error !== null) return;
      const token = msg.subject.slice(inbox.length + 1);
      const res = waiting.get(token);
      if (res === undefined) return;
      waiting.delete(token);
      // A PubAck is JSON with the stored sequence; an error answer has no `seq`.
      answer(res, msg.string().includes('"seq"') ? 202 : 503);
    },
  });

  let group: { body: Buffer; id: string; res: ServerResponse }[] = [];
  let scheduled = false;
  // Once per turn: everything parsed in it is published together; the acks answer the publishers.
  const publish = (): void => {
    scheduled = false;
    const published = group;
    group = [];
    for (const { body, id, res } of published) {
      const token = (++next).toString(36);
      const h = headers();
      h.set('Nats-Msg-Id', id);
      waiting.set(token, res);
      nc.publish(subject, body, { headers: h, reply: `${inbox}.${token}` });
    }
  };

  const server = createServer((req, res) => {
    onBody(req, (body) => {
      let id: unknown;
      try {
        id = (JSON.parse(body.toString('utf8')) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== 'string') {
        answer(res, 400);
        return;
      }
      group.push({ body, id, res });
      if (!scheduled) {
        scheduled = true;
        setImmediate(publish);
      }
    });
  });
  return { server, stream, connection: nc };
}
