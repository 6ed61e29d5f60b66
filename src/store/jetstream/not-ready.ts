import { JetStreamApiError } from '@nats-io/jetstream';
import type { StoreNotReady } from '../types.js';

/** Every cause the jetstream store reports (the values of `herald_store_not_ready{cause}`). */
export const JETSTREAM_NOT_READY_CAUSES = [
  'nats-connecting',
  'nats-unreachable',
  'nats-authorization',
  'nats-tls',
  'nats-disconnected',
  'nats-server-version',
  'jetstream-disabled',
  'stream-replicas',
  'jetstream-setup',
] as const;
export type JetStreamNotReadyCause = (typeof JETSTREAM_NOT_READY_CAUSES)[number];

export interface JetStreamNotReady extends StoreNotReady {
  readonly cause: JetStreamNotReadyCause;
}

const NOT_REACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
]);

/** The message of an error and of its causes, for matching: the server's words are in there. */
function messages(error: unknown): string {
  const parts: string[] = [];
  for (
    let e = error as { message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (typeof e.message === 'string') parts.push(e.message);
    e = e.cause as typeof e;
  }
  return parts.join(': ');
}

function codeOf(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * Why connecting to NATS failed. The server's authorization answers ("Authorization Violation",
 * "authentication expired") and TLS failures are told apart from an unreachable server, so the
 * operator looks at credentials or certificates rather than at the network. The detail names no
 * server address: `/readyz` is public (the log line names the servers).
 */
export function connectFailure(
  error: unknown,
  connection: { readonly tls: boolean; readonly clientCertificate: boolean } = {
    tls: false,
    clientCertificate: false,
  },
): JetStreamNotReady {
  const text = messages(error);
  const code = codeOf(error);
  const name = (error as { name?: unknown } | undefined)?.name;
  if (
    name === 'AuthorizationError' ||
    name === 'UserAuthenticationExpiredError' ||
    /authorization violation|authentication (expired|timeout)/i.test(text)
  ) {
    return {
      cause: 'nats-authorization',
      detail: `NATS refused the broker's credentials (${text}); check --nats-user/--nats-password, --nats-token, --nats-nkey-seed-file or --nats-creds-file`,
    };
  }
  if (code !== undefined && /^(ENOENT|EACCES|EISDIR)$/.test(code)) {
    return {
      cause: 'nats-authorization',
      detail: `a file for the NATS connection cannot be read (${code}); check --nats-creds-file, --nats-nkey-seed-file, --nats-ca, --nats-cert and --nats-key`,
    };
  }
  if (
    /tls|ssl|certificate|self[- ]signed|alert/i.test(text) ||
    (code !== undefined && /CERT|TLS|SSL|SIGNATURE|ISSUER/.test(code))
  ) {
    return {
      cause: 'nats-tls',
      detail: `the TLS connection to NATS failed (${text}); check tls:// in --nats-url, --nats-ca, --nats-cert and --nats-key`,
    };
  }
  const unreachable = code !== undefined && NOT_REACHABLE.has(code);
  // Over TLS 1.3 a server that requires a client certificate accepts the handshake and then drops the
  // connection; the client only sees no answer. Say so rather than blame the network alone.
  const hint =
    connection.tls && !connection.clientCertificate && !unreachable
      ? '; a NATS server that requires a client certificate (tls verify) answers like this: check --nats-cert and --nats-key'
      : '';
  return {
    cause: 'nats-unreachable',
    detail: `NATS is not reachable (${unreachable ? code : text || 'no answer'})${hint}`,
  };
}

const REPLICA_PLACEMENT = new Set([
  10074, // JSStreamReplicasNotSupportedErr: replicas > 1 not supported in non-clustered mode
  10005, // JSClusterNoPeersErrF: no suitable peers for placement
  10023, // JSInsufficientResourcesErr
]);

/** Why creating or updating the streams and buckets failed, once connected. */
export function setUpFailure(error: unknown, replicas: number): JetStreamNotReady {
  const text = messages(error);
  const apiCode = error instanceof JetStreamApiError ? error.code : undefined;
  if (apiCode !== undefined && REPLICA_PLACEMENT.has(apiCode) && replicas > 1) {
    return {
      cause: 'stream-replicas',
      detail: `JetStream cannot place ${replicas} replicas of the stream (${text}): --stream-replicas ${replicas} needs a NATS cluster of at least ${replicas} JetStream servers with room for it; lower --stream-replicas or grow the cluster`,
    };
  }
  if (/too old/.test(text)) return { cause: 'nats-server-version', detail: text };
  if (apiCode === 10039 || /jetstream not enabled|no responders/i.test(text)) {
    return {
      cause: 'jetstream-disabled',
      detail: `JetStream does not answer for this NATS account (${text}); start nats-server with -js or enable JetStream for the account`,
    };
  }
  if (/permissions violation/i.test(text)) {
    return {
      cause: 'nats-authorization',
      detail: `the NATS user may not use a subject Herald needs (${text}); see the permissions in docs/jetstream.md`,
    };
  }
  return { cause: 'jetstream-setup', detail: `setting up the JetStream stream and buckets failed (${text})` };
}
