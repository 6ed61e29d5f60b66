// A TCP relay in front of a real nats-server, for tests that lose or delay what the server sends.
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback relay between a client and the nats-server on `serverPort` (127.0.0.1) that can hold back
 * what the server sends (the connection stays up) or cut every connection (the client reconnects
 * through it). Tests of the JetStream store use it to lose or delay acknowledgements.
 */
export type NatsRelay = Awaited<ReturnType<typeof startNatsRelay>>;

/** One protocol message the server sent, and for a MSG/HMSG its subscription (sid) and reply subject. */
interface Frame {
  readonly bytes: Buffer;
  readonly sid?: string;
  readonly reply?: string;
}

/** The first whole protocol message in `buffer` (INFO/PING/+OK… lines, MSG/HMSG with their payload). */
function nextFrame(buffer: Buffer): Frame | undefined {
  const eol = buffer.indexOf('\r\n');
  if (eol < 0) return undefined;
  const line = buffer.toString('latin1', 0, eol);
  const parts = line.split(' ').filter((part) => part !== '');
  const verb = parts[0]?.toUpperCase();
  if (verb !== 'MSG' && verb !== 'HMSG') return { bytes: buffer.subarray(0, eol + 2) };
  // MSG <subject> <sid> [reply] <bytes>; HMSG <subject> <sid> [reply] <header bytes> <total bytes>.
  const withReply = parts.length === (verb === 'MSG' ? 5 : 6);
  const end = eol + 2 + Number(parts[parts.length - 1]) + 2;
  if (buffer.length < end) return undefined;
  return {
    bytes: buffer.subarray(0, end),
    ...(parts[2] === undefined ? {} : { sid: parts[2] }),
    ...(withReply && parts[3] !== undefined ? { reply: parts[3] } : {}),
  };
}

export interface NatsRelayOptions {
  /**
   * Splits what the server sends into protocol messages, so that `holdDeliveries` can hold some and
   * pass the others (off by default: the relay then passes the bytes as they come).
   */
  readonly framed?: boolean;
}

export async function startNatsRelay(serverPort: number, options: NatsRelayOptions = {}) {
  let held = false;
  /** With `framed`: messages whose reply subject starts with this are held (see `holdDeliveries`). */
  let holdReplyPrefix: string | undefined;
  let accepted = 0;
  /** Once the client sends this text, what the server sends is held (see `holdOnceSent`). */
  let holdTrigger: string | undefined;
  /** How often the client sent each text given to `countSent`. */
  const counted = new Map<string, number>();
  /** Per connection: what is held for it, and (framed) the subscriptions whose messages are all held. */
  const toClients = new Set<{ socket: Socket; queue: Buffer[]; heldSids: Set<string> }>();
  const relay = createServer((client) => {
    accepted++;
    const upstream = connectTcp(serverPort, '127.0.0.1');
    const side = { socket: client, queue: [] as Buffer[], heldSids: new Set<string>() };
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
    let partial: Buffer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (options.framed !== true) {
        if (held) side.queue.push(chunk);
        else client.write(chunk);
        return;
      }
      partial = partial.length === 0 ? chunk : Buffer.concat([partial, chunk]);
      for (let frame = nextFrame(partial); frame !== undefined; frame = nextFrame(partial)) {
        partial = partial.subarray(frame.bytes.length);
        const { sid, reply } = frame;
        // What follows a held delivery on its subscription (heartbeats, flow control) is held too.
        if (sid !== undefined && holdReplyPrefix !== undefined && reply?.startsWith(holdReplyPrefix))
          side.heldSids.add(sid);
        if (held || (sid !== undefined && side.heldSids.has(sid))) side.queue.push(frame.bytes);
        else client.write(frame.bytes);
      }
    });
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
    /**
     * With `framed`: from now on, holds what the server delivers from a consumer of `stream` (a message
     * whose reply subject is `$JS.ACK.<stream>.…`, and whatever follows it to the same subscription:
     * heartbeats, flow control), while everything else passes (replies to requests, other
     * subscriptions): a consumer that lags behind the requests of the same client.
     */
    holdDeliveries(stream: string) {
      if (options.framed !== true) throw new Error('holdDeliveries needs a relay started with framed: true');
      holdReplyPrefix = `$JS.ACK.${stream}.`;
    },
    /** Sends what was held, in the order it came, in one write per connection (the client reads it at once). */
    release() {
      held = false;
      holdReplyPrefix = undefined;
      for (const side of toClients) {
        side.heldSids.clear();
        const chunks = side.queue.splice(0);
        if (chunks.length > 0) side.socket.write(Buffer.concat(chunks));
      }
    },
    /** Drops what was held and closes every connection. */
    cut() {
      held = false;
      holdReplyPrefix = undefined;
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
