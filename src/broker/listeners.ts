import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Server as TlsServer } from 'node:https';
import type { BrokerConfig } from '../config/index.js';
import { HeraldError } from '../errors/index.js';
import { holdBodyInvitation, ServerGuards } from '../http/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';

/** Serves one request; returns at once (the broker's handler settles on its own). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ListenerOptions {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
}

/**
 * One listener (HTTPS with `--tls-cert`/`--tls-key`, else HTTP) on `port`, listening when this resolves.
 * `handlerFor` is called once, with the listener's guards, and returns the request handler: the
 * listener adds nothing of its own to a request's path.
 */
export async function openListener(
  port: number,
  handlerFor: (guards: ServerGuards) => RequestHandler,
  { config, logger, metrics }: ListenerOptions,
): Promise<Server> {
  const { limits } = config;
  // Deliberate transport bounds (each a flag): a slow or idle client holds a connection only so long.
  const transport = {
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    // Checks the two timeouts above this often (Node's default is 30 s, too coarse for them).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };
  const server: Server =
    config.tls === undefined ? createServer(transport) : tlsServer(config.tls, transport, logger);
  // Connection caps, and Node's own early answers (431, 400, 408) as coded problems.
  const guards = new ServerGuards(server, {
    maxConnections: limits.maxConnections,
    maxConnectionsPerClient: limits.maxConnectionsPerClient,
    onRefused: (limit) => metrics.limitRejections.inc({ limit }),
  });
  // What `createServer(options, listener)` does with its listener, once the guards exist to pass it.
  const handler = handlerFor(guards);
  server.on('request', handler);
  // Listening stops Node from inviting every `Expect: 100-continue` body before the handler runs.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    holdBodyInvitation(req, res);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** An HTTPS server whose certificate and key are re-read when either file changes (cert-manager rotation). */
function tlsServer(
  tls: { readonly cert: string; readonly key: string },
  transport: ServerOptions,
  logger: Logger,
): TlsServer {
  const read = () => ({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) });
  let material;
  try {
    material = read();
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `--tls-cert/--tls-key: ${(error as Error).message}`);
  }
  const server = createTlsServer({ ...material, ...transport });
  const reload = () => {
    try {
      server.setSecureContext(read());
      logger.info({ cert: tls.cert }, 'tls certificate reloaded');
    } catch (error) {
      // A half-written pair (cert renewed, key not yet) fails here; the next change completes it.
      logger.warn({ err: error }, 'tls certificate not reloaded; keeping the previous one');
    }
  };
  for (const file of [tls.cert, tls.key]) {
    watchFile(file, { interval: 500, persistent: false }, reload);
  }
  server.once('close', () => {
    for (const file of [tls.cert, tls.key]) unwatchFile(file, reload);
  });
  return server;
}

/** Warns when the broker listens beyond loopback with `--auth none`. */
export function warnIfUnauthenticated(config: BrokerConfig, logger: Logger): void {
  if (config.auth.methods.length === 0 && !isLoopback(config.host)) {
    logger.warn(
      { host: config.host },
      `--auth none on ${config.host}: anyone who can reach this port can publish, read every event, and ` +
        'create, change or delete any subscription. Set --auth (and --policy) unless a mesh or network ' +
        'policy in front does this (see docs/security.md)',
    );
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
