// A TCP relay in front of a real nats-server, for tests that lose or delay what the server sends.
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback relay between a client and the nats-server on `serverPort` (127.0.0.1) that can hold back
 * what the server sends (the connection stays up) or cut every connection (the client reconnects
 * through it). Tests of the JetStream store use it to lose or delay acknowledgements.
 */
export type NatsRelay = Awaited<ReturnType<typeof startNatsRelay>>;

export async function startNatsRelay(serverPort: number) {
  let held = false;
  let accepted = 0;
  /** Once the client sends this text, what the server sends is held (see `holdOnceSent`). */
  let holdTrigger: string | undefined;
  /** How often the client sent each text given to `countSent`. */
  const counted = new Map<string, number>();
  const toClients = new Set<{ socket: Socket; queue: Buffer[] }>();
  const relay = createServer((client) => {
    accepted++;
    const upstream = connectTcp(serverPort, '127.0.0.1');
    const side = { socket: client, queue: [] as Buffer[] };
    toClients.add(side);
    // The end of the previous chunk, so that a trigger split over two chunks is still seen.
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      if (holdTrigger !== undefined && text.includes(holdTrigger)) {
        holdTrigger = undefined;
        held = true;
      }
      for (const pattern of counted.keys()) {
        // Occurrences that end in this chunk: those wholly in the tail were counted before.
        for (let at = text.indexOf(pattern); at >= 0; at = text.indexOf(pattern, at + 1)) {
          if (at + pattern.length > tail.length) counted.set(pattern, (counted.get(pattern) ?? 0) + 1);
        }
      }
      tail = text.slice(-64);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => (held ? side.queue.push(chunk) : client.write(chunk)));
    const end = () => {
      toClients.delete(side);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as AddressInfo).port;
  return {
    url: `nats://127.0.0.1:${port}`,
    connections: () => accepted,
    hold() {
      held = true;
    },
    /** From now on, counts how often the clients send `text`; `sent(text)` reads the count. */
    countSent(text: string) {
      counted.set(text, 0);
    },
    sent: (text: string) => counted.get(text) ?? 0,
    /** Holds what the server sends from the moment the client sent `text` (before the server answers it). */
    holdOnceSent(text: string) {
      holdTrigger = text;
    },
    release() {
      held = false;
      for (const side of toClients) for (const chunk of side.queue.splice(0)) side.socket.write(chunk);
    },
    /** Drops what was held and closes every connection. */
    cut() {
      held = false;
      for (const side of toClients) {
        side.queue.length = 0;
        side.socket.destroy();
      }
    },
    close() {
      relay.close();
    },
  };
}
