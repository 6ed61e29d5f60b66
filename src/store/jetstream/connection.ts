import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';

/** Oldest nats-server this adapter runs on: atomic batch publish arrived in 2.12. */
export const MIN_SERVER_VERSION = [2, 12] as const;

export interface NatsConnectionSettings {
  /** NATS server URLs. */
  readonly servers: readonly string[];
  /** The connection's name as the server shows it (`/connz`). */
  readonly name: string;
  /** Credentials and TLS (`natsConnectOptions`). */
  readonly security?: Partial<ConnectionOptions>;
}

/**
 * Opens the store's one NATS connection. Reconnects forever: the store refuses appends while it is
 * away and resumes once it is back.
 */
export function connectToNats(settings: NatsConnectionSettings): Promise<NatsConnection> {
  return connect({
    ...settings.security,
    servers: [...settings.servers],
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    timeout: 5_000,
    pingInterval: 10_000,
    maxPingOut: 3,
    // Otherwise every request builds an Error up front for its stack trace, thrown or not: ~10% of
    // the broker's CPU under publish load. Only the depth of a failed request's stack is lost.
    noAsyncTraces: true,
    // The store's own wake-up announcements (event-log.ts) are for the other processes only.
    noEcho: true,
  });
}

export function versionAtLeast(
  version: string | undefined,
  [major, minor]: readonly [number, number],
): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  if (m === null) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}
