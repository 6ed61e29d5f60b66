// A plain TCP proxy on loopback that can make the connections through it die silently, for tests of a
// client that must notice a stream that went quiet (test/k8s/watch-proxy.ts does the same for HTTPS watches).
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/** One connection through the proxy: the client's socket and the upstream one. */
interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  stalled: boolean;
}

export type StallingProxy = Awaited<ReturnType<typeof startStallingProxy>>;

/**
 * Every connection to the proxy is forwarded to `target` (an `http://127.0.0.1:port` URL), both ways,
 * until `stall()`: from then on, the connections open now forward nothing in either direction, and
 * neither socket is closed — as behind a NAT or load balancer that dropped the flow without a reset, or
 * a peer gone without a FIN. What arrives on a stalled connection is read and dropped (a black hole, so
 * neither side's buffers fill and make it close). Connections opened later are forwarded as usual.
 */
export async function startStallingProxy(target: string) {
  const { hostname, port } = new URL(target);
  const pairs = new Set<Pair>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = createConnection({ host: hostname, port: Number(port) });
    const pair: Pair = { client, upstream, stalled: false };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (!pair.stalled) to.write(chunk);
      });
      from.on('end', () => {
        if (!pair.stalled) to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      if (pair.stalled) return;
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** How many connections were accepted so far. */
    connections: () => connections,
    /**
     * Every connection open now goes silent both ways, for ever; both sockets stay open. Returns how many
     * connections it stalled (none when no connection was open).
     */
    stall(): number {
      let count = 0;
      for (const pair of pairs) {
        if (pair.stalled) continue;
        pair.stalled = true;
        count++;
      }
      return count;
    },
    close(): Promise<void> {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
