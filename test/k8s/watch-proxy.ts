// An HTTPS proxy in front of the test kube-apiserver that can hold back or expire what its watches
// deliver, for tests of a client whose watch lags behind its own requests.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeApiServer } from '../infra/k8s/apiserver.js';

/** What the real apiserver answers a watch from a resourceVersion older than it keeps (410 Gone). */
const EXPIRED = `${JSON.stringify({
  type: 'ERROR',
  object: {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'too old resource version',
    reason: 'Expired',
    code: 410,
  },
})}\n`;

/** One watch passing through: its response to the client and what is held for it. */
interface WatchStream {
  readonly response: ServerResponse;
  readonly upstream: IncomingMessage;
  readonly queue: Buffer[];
}

export type WatchProxy = Awaited<ReturnType<typeof startWatchProxy>>;

/**
 * Every request goes through to `apiserver` unchanged (TLS ended here, with the apiserver's own serving
 * certificate, and begun again). A watch's response (`?watch=true`) streams through unless `hold()` is in
 * force: then what the apiserver sends on every watch is kept, in order, until `release()` sends it.
 * `expire()` stands in for a watch that fell out of the apiserver's watch cache, which a test cannot make
 * happen in a few seconds (the cache keeps at least 75 s of changes): the watches are cut and what they
 * held is lost, and the next watch request is answered as the apiserver answers one whose
 * resourceVersion is too old — a `410 Expired` ERROR event — so the client relists.
 */
export async function startWatchProxy(apiserver: KubeApiServer) {
  const upstreamUrl = new URL(apiserver.server);
  let held = false;
  let expireNext = false;
  let watches = 0;
  /** The resource (plural) whose lists are refused, if any. */
  let failingLists: string | undefined;
  let failedLists = 0;
  const streams = new Set<WatchStream>();
  /** Watches cut off from the apiserver whose client side stays open, silent (see `stall`). */
  const stalled = new Set<WatchStream>();
  const server = createServer(
    {
      cert: readFileSync(join(apiserver.dir, 'pki', 'apiserver.crt')),
      key: readFileSync(join(apiserver.dir, 'pki', 'apiserver.key')),
    },
    (incoming, response) => {
      const url = new URL(incoming.url ?? '/', apiserver.server);
      const watch = url.searchParams.get('watch') === 'true';
      if (watch) watches++;
      if (watch && expireNext && (url.searchParams.get('resourceVersion') ?? '') !== '') {
        expireNext = false;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(EXPIRED);
        incoming.resume();
        return;
      }
      // A list (a GET of a collection, not a watch) refused as an apiserver still starting refuses it.
      if (
        failingLists !== undefined &&
        !watch &&
        incoming.method === 'GET' &&
        url.pathname.endsWith(`/${failingLists}`)
      ) {
        failedLists++;
        response.writeHead(503, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            code: 503,
            reason: 'ServiceUnavailable',
          }),
        );
        incoming.resume();
        return;
      }
      const forwarded = request(
        {
          hostname: upstreamUrl.hostname,
          port: upstreamUrl.port,
          method: incoming.method,
          path: incoming.url,
          headers: { ...incoming.headers, host: upstreamUrl.host },
          rejectUnauthorized: false,
        },
        (upstream) => {
          response.writeHead(upstream.statusCode ?? 502, upstream.headers);
          if (!watch) {
            upstream.pipe(response);
            return;
          }
          // At once, as the apiserver does: the client waits for the headers before it reads events.
          response.flushHeaders();
          const stream: WatchStream = { response, upstream, queue: [] };
          streams.add(stream);
          upstream.on('data', (chunk: Buffer) => {
            if (stalled.has(stream)) return;
            if (held) stream.queue.push(chunk);
            else response.write(chunk);
          });
          const end = () => {
            if (!streams.delete(stream)) return;
            if (stream.queue.length === 0) response.end();
            else response.destroy();
          };
          upstream.on('end', end).on('error', end);
          response.on('close', () => {
            streams.delete(stream);
            upstream.destroy();
          });
        },
      );
      forwarded.on('error', () => response.destroy());
      incoming.pipe(forwarded);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    /** How many watch requests have come through so far (a relist's watch is a new one). */
    watches: () => watches,
    /** A client configuration for the apiserver through this proxy, with the apiserver's admin token. */
    kubeConfig(): KubeConfig {
      const config = new KubeConfig();
      config.loadFromOptions({
        clusters: [{ name: 'proxied', server: url, skipTLSVerify: true }],
        users: [{ name: 'admin', token: apiserver.token }],
        contexts: [{ name: 'proxied', cluster: 'proxied', user: 'admin' }],
        currentContext: 'proxied',
      });
      return config;
    },
    /** Until called again with `undefined`, every list of `plural` is answered 503 (watches stream as usual). */
    failLists(plural: string | undefined) {
      failingLists = plural;
    },
    /** How many list requests were answered 503 so far. */
    failedLists: () => failedLists,
    /** From now on, what every watch delivers is held (the watches stay open). */
    hold() {
      held = true;
    },
    /** Sends what was held, in order, and lets the watches stream again. */
    release() {
      held = false;
      for (const stream of streams) {
        const chunks = stream.queue.splice(0);
        if (chunks.length > 0) stream.response.write(Buffer.concat(chunks));
      }
    },
    /**
     * Cuts every watch (what was held is lost) and answers the next watch request that resumes from a
     * resourceVersion with `410 Expired`, so the client lists again.
     */
    expire() {
      held = false;
      expireNext = true;
      for (const stream of [...streams]) {
        streams.delete(stream);
        stream.queue.length = 0;
        stream.upstream.destroy();
        stream.response.destroy();
      }
    },
    /**
     * The connection of every watch open now dies silently, as behind a load balancer or proxy that
     * stops forwarding, or with a peer gone without a reset: the apiserver's side is closed, the client's
     * stays open and hears nothing more, ever. Watches opened later stream as usual.
     */
    stall() {
      for (const stream of [...streams]) {
        streams.delete(stream);
        stalled.add(stream);
        stream.upstream.destroy();
      }
    },
    close(): Promise<void> {
      for (const stream of [...streams, ...stalled]) stream.response.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
