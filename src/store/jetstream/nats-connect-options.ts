import { accessSync, constants, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { Authenticator, ConnectionOptions } from '@nats-io/transport-node';
import { parseNatsUrls } from '../../config/index.js';
import type { BrokerConfig, NatsSettings } from '../../config/index.js';
import { HeraldError } from '../../errors/index.js';

/** How the jetstream store authenticates to NATS and whether it uses TLS; all optional. */
export interface NatsConnectionSecurity {
  readonly user?: { readonly name: string; readonly password: string };
  readonly token?: string;
  /** Read at every connection attempt, so a rotated file is picked up on reconnect. */
  readonly nkeySeedFile?: string;
  /** A credentials file (user JWT + seed); read at every connection attempt. */
  readonly credsFile?: string;
  /** Present: the connection must be TLS. The files are read at every connection attempt. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

/** What `connect` needs beyond the store's own timing settings. */
export interface NatsConnectTarget {
  /** `host:port` of each server (scheme and credentials taken out). */
  readonly servers: string[];
  /** The servers as they may be logged: credentials replaced by `***`. */
  readonly redacted: string[];
  readonly options: Partial<ConnectionOptions>;
  /** What the connection uses, for explaining failures. */
  readonly security: { readonly tls: boolean; readonly clientCertificate: boolean };
}

/**
 * Maps the store's servers and security settings to NATS `connect` options. Credentials in a URL
 * (`nats://user:password@host`, `nats://token@host`) and `tls://` are honoured here: the client itself
 * drops both. Secrets go into authenticator closures only, never into a field that is logged.
 */
export function natsConnectOptions(
  servers: string | readonly string[],
  security: NatsConnectionSecurity = {},
): NatsConnectTarget {
  const urls = parseNatsUrls(typeof servers === 'string' ? servers : servers.join(','));
  const fromUrl = urls.userinfo;
  const user =
    security.user ??
    (fromUrl?.password === undefined ? undefined : { name: fromUrl.user, password: fromUrl.password });
  const token =
    security.token ?? (fromUrl !== undefined && fromUrl.password === undefined ? fromUrl.user : undefined);
  let authenticator: Authenticator | undefined;
  if (security.credsFile !== undefined) {
    const file = security.credsFile;
    authenticator = credsAuthenticator(() => readFileSync(file));
  } else if (security.nkeySeedFile !== undefined) {
    const file = security.nkeySeedFile;
    authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(file, 'utf8').trim()));
  } else if (token !== undefined) {
    authenticator = tokenAuthenticator(token);
  } else if (user !== undefined) {
    authenticator = usernamePasswordAuthenticator(user.name, user.password);
  }
  const tls = security.tls ?? (urls.tls ? {} : undefined);
  // The client hands TLS no host name when it dials an IP address (Node then checks the certificate
  // against "localhost"): accept a certificate valid for one of the IP addresses in --nats-url.
  const ips = urls.servers
    .map((s) => s.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'))
    .filter((h) => isIP(h) !== 0);
  const identity =
    ips.length === 0
      ? {}
      : {
          checkServerIdentity: (host: string, cert: PeerCertificate) => {
            const error = checkServerIdentity(host, cert);
            if (error === undefined) return undefined;
            return ips.some((ip) => checkServerIdentity(ip, cert) === undefined) ? undefined : error;
          },
        };
  return {
    servers: [...urls.servers],
    redacted: [...urls.redacted],
    security: { tls: tls !== undefined, clientCertificate: tls?.cert !== undefined },
    options: {
      // Keep reconnecting after the server refused the credentials twice (the client gives up by
      // default): a rotated Secret or a fixed server configuration then heals without a restart.
      ignoreAuthErrorAbort: true,
      ...(authenticator === undefined ? {} : { authenticator }),
      ...(tls === undefined
        ? {}
        : {
            tls: {
              ...identity,
              ...(tls.ca === undefined ? {} : { caFile: tls.ca }),
              ...(tls.cert === undefined ? {} : { certFile: tls.cert }),
              ...(tls.key === undefined ? {} : { keyFile: tls.key }),
            },
          }),
    },
  };
}

const FILE_FLAGS = [
  ['--nats-creds-file', 'credsFile'],
  ['--nats-nkey-seed-file', 'nkeySeedFile'],
] as const;

/**
 * The store's security settings from the broker configuration. The files must be readable now: a
 * typo is a configuration error at start, not a broker that stays not ready.
 */
export function natsSecurityFromConfig(config: BrokerConfig): NatsConnectionSecurity {
  const nats: NatsSettings = config.nats;
  const files: Array<[string, string | undefined]> = [
    ...FILE_FLAGS.map(([flag, key]): [string, string | undefined] => [flag, nats[key]]),
    ['--nats-ca', nats.tls?.ca],
    ['--nats-cert', nats.tls?.cert],
    ['--nats-key', nats.tls?.key],
  ];
  for (const [flag, file] of files) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      throw new HeraldError(
        'HERALD_INVALID_CONFIG',
        `${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  return {
    ...(nats.user === undefined ? {} : { user: nats.user }),
    ...(nats.token === undefined ? {} : { token: nats.token }),
    ...(nats.nkeySeedFile === undefined ? {} : { nkeySeedFile: nats.nkeySeedFile }),
    ...(nats.credsFile === undefined ? {} : { credsFile: nats.credsFile }),
    ...(nats.tls === undefined
      ? {}
      : {
          tls: {
            ...(nats.tls.ca === undefined ? {} : { ca: nats.tls.ca }),
            ...(nats.tls.cert === undefined ? {} : { cert: nats.tls.cert }),
            ...(nats.tls.key === undefined ? {} : { key: nats.tls.key }),
          },
        }),
  };
}
