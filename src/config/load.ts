import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { parseNatsUrls, redactNatsUrls } from './nats-url.js';
import { BROKER_OPTIONS, brokerConfigSchema } from './schema.js';
import type { BrokerOptionName, RawBrokerConfig } from './schema.js';

/** The validated broker configuration, in the names the code uses. */
export interface BrokerConfig {
  readonly port: number;
  readonly host: string;
  readonly adminPort: number | undefined;
  readonly store: 'embedded' | 'jetstream' | 'kafka';
  readonly dataDir: string;
  readonly natsUrl: string | undefined;
  readonly streamReplicas: number;
  /** How the jetstream store connects: servers, credentials and TLS (store jetstream). */
  readonly nats: NatsSettings;
  /** Unvalidated here: the subscriptions' delivery schema checks it when the broker starts. */
  readonly deliveryDefaults: Readonly<Record<string, unknown>> | undefined;
  readonly brokerName: string;
  readonly kubernetes: boolean;
  readonly namespace: string | undefined;
  readonly logLevel: RawBrokerConfig['log-level'];
  readonly durability: 'fsync' | 'buffered';
  readonly storeWriter: 'auto' | 'inline' | 'thread';
  /** V8's semi-space the CLI restarts the broker with (0: Node's own sizing). */
  readonly heapSemiSpaceBytes: number;
  readonly maxEventSize: number;
  readonly maxRequestSize: number;
  readonly dedupeWindowMs: number;
  readonly retention: { readonly maxAgeMs: number; readonly maxEvents: number; readonly maxBytes: number };
  /** Per-subscription bounds on dead letters (`--dead-letter-max-*`), applied by the broker's sweep. */
  readonly deadLetterLimits: {
    readonly maxAgeMs: number;
    readonly maxLetters: number;
    readonly maxBytes: number;
  };
  readonly ingressRateLimit: number;
  /** At most one "request refused" warning per error code per this long (`--log-refusals-interval`). */
  readonly logRefusalsIntervalMs: number;
  /** SIGTERM: how long the broker keeps serving, unready, before it closes its listeners. */
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  /** Checked by the schema; parsed again by the sink guard. */
  readonly sinkDeny: string;
  readonly sinkAllow: string;
  readonly sinkCa: string | undefined;
  readonly sinkResponseLimit: number;
  readonly sinkHandshake: 'off' | 'required';
  readonly sinkHandshakeOrigin: string | undefined;
  readonly sensitiveHeaders: string;
  readonly secretKeyFile: string | undefined;
  readonly kafka: {
    readonly brokers: string | undefined;
    readonly replicationFactor: number;
    readonly requestTimeoutMs: number;
    readonly sasl:
      | {
          readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
          readonly username: string;
          readonly passwordFile: string;
        }
      | undefined;
    readonly tls: boolean;
    readonly ca: string | undefined;
  };
  readonly eventTypes: {
    readonly max: number;
    readonly rate: number;
    /** Longest type or source registered (`--event-types-max-length`). */
    readonly maxLength: number;
    readonly file: string | undefined;
  };
  readonly auth: {
    readonly methods: readonly ('tokens' | 'jwt' | 'kubernetes')[];
    readonly tokensFile: string | undefined;
    readonly jwtJwks: string | undefined;
    readonly jwtIssuers: readonly string[];
    readonly jwtAudience: string | undefined;
    readonly kubernetesAudience: string;
    /** Most TokenReviews in flight at once (`--token-review-concurrency`); more are refused with a 503. */
    readonly tokenReviewConcurrency: number;
    readonly maxAuthorizationSize: number;
    readonly jwksCooldownMs: number;
    /** How often an open event stream's credential and read rule are checked again (`--stream-auth-recheck`). */
    readonly streamRecheckMs: number;
    /** Host names browsers may use besides the built-in ones (`--allowed-hosts`). */
    readonly allowedHosts: readonly string[];
  };
  readonly policyFile: string | undefined;
  readonly authzDefault: 'allow-authenticated' | 'deny';
  readonly maxSubscriptionsPerPrincipal: number;
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** Bounds that keep one client, filter or event from stalling or exhausting the broker. */
  readonly limits: BrokerLimits;
}

export interface NatsSettings {
  /** `host:port` of each server in --nats-url, without scheme or credentials. */
  readonly servers: readonly string[];
  /** --nats-url with credentials replaced by `***`, for logs. */
  readonly redactedServers: readonly string[];
  /** User and password, from the flags or the URL's user information. */
  readonly user: { readonly name: string; readonly password: string } | undefined;
  /** From --nats-token or a URL's `token@` user information. */
  readonly token: string | undefined;
  readonly nkeySeedFile: string | undefined;
  readonly credsFile: string | undefined;
  /** Set when a URL is tls:// or a TLS file is given: the connection must then be TLS. */
  readonly tls:
    | {
        readonly ca: string | undefined;
        readonly cert: string | undefined;
        readonly key: string | undefined;
      }
    | undefined;
}

export interface BrokerLimits {
  readonly maxSubscribersPerRequest: number;
  readonly maxSubscriptions: number;
  readonly filter: {
    readonly maxLength: number;
    readonly maxNodes: number;
    readonly maxLikePatterns: number;
    readonly maxCallDepth: number;
    readonly evalBudget: number;
  };
  readonly logReadMaxWork: number;
  readonly logReadMaxTimeMs: number;
  /** Most GET /events pages answered at once (`--max-log-reads`). */
  readonly maxLogReads: number;
  /** `--max-log-reads-per-client`. */
  readonly maxLogReadsPerClient: number;
  /** How long a log reader may leave written data untaken (`--log-write-timeout`). */
  readonly logWriteTimeoutMs: number;
  /** Bytes of letters one dead-letter page holds past its first (`--dead-letter-page-max-bytes`). */
  readonly deadLetterPageMaxBytes: number;
  /** Most dead-letter pages answered at once (`--max-dead-letter-reads`). */
  readonly maxDeadLetterReads: number;
  /** `--max-dead-letter-reads-per-client`. */
  readonly maxDeadLetterReadsPerClient: number;
  readonly ingressRateBurst: number;
  readonly ingressRateLimitPer: 'global' | 'client';
  readonly ingressRateLimitClients: number;
  readonly maxJsonDepth: number;
  readonly maxExtensions: number;
  /** Most events in one batch request (`--max-batch-events`). */
  readonly maxBatchEvents: number;
  /** Bytes of trace context headers kept with each event (`--max-trace-context`). */
  readonly maxTraceContext: number;
  /** Largest control-API request body in bytes (`--max-control-request-size`). */
  readonly maxControlRequestSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly maxStreams: number;
  readonly maxStreamsPerClient: number;
}

/** Invalid configuration: one line per problem, each naming the option and where its value came from. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const NAMES = new Set<string>(BROKER_OPTIONS.map((o) => o.name));
/** Boolean options are switches, as in the client commands: `--kubernetes` and `--no-kubernetes`. */
const SWITCHES = new Set<string>(BROKER_OPTIONS.filter((o) => o.kind === 'boolean').map((o) => o.name));
const FLAG_NAMES = new Set<string>([...NAMES, ...[...SWITCHES].map((name) => `no-${name}`), 'config']);
const SWITCH_VALUE = /^(true|false|1|0|yes|no|on|off)$/i;
const envName = (name: string) => `HERALD_${name.toUpperCase().replaceAll('-', '_')}`;

function toBrokerConfig(raw: RawBrokerConfig): BrokerConfig {
  return {
    port: raw.port,
    host: raw.host,
    adminPort: raw['admin-port'],
    store: raw.store,
    dataDir: raw['data-dir'],
    natsUrl: raw['nats-url'],
    streamReplicas: raw['stream-replicas'],
    nats: natsSettings(raw),
    deliveryDefaults: raw['delivery-defaults'],
    brokerName: raw['broker-name'],
    kubernetes: raw.kubernetes,
    namespace: raw.namespace,
    logLevel: raw['log-level'],
    durability: raw.durability,
    storeWriter: raw['store-writer'],
    heapSemiSpaceBytes: raw['heap-semi-space'],
    maxEventSize: raw['max-event-size'],
    maxRequestSize: raw['max-request-size'],
    dedupeWindowMs: raw['dedupe-window'],
    retention: {
      maxAgeMs: raw['retention-max-age'],
      maxEvents: raw['retention-max-events'],
      maxBytes: raw['retention-max-bytes'],
    },
    deadLetterLimits: {
      maxAgeMs: raw['dead-letter-max-age'],
      maxLetters: raw['dead-letter-max-letters'],
      maxBytes: raw['dead-letter-max-bytes'],
    },
    ingressRateLimit: raw['ingress-rate-limit'],
    logRefusalsIntervalMs: raw['log-refusals-interval'],
    shutdownDelayMs: raw['shutdown-delay'],
    shutdownTimeoutMs: raw['shutdown-timeout'],
    sinkDeny: raw['sink-deny'],
    sinkAllow: raw['sink-allow'],
    sinkCa: raw['sink-ca'],
    sinkResponseLimit: raw['sink-response-limit'],
    sinkHandshake: raw['sink-handshake'],
    sinkHandshakeOrigin: raw['sink-handshake-origin'],
    sensitiveHeaders: raw['sensitive-headers'],
    secretKeyFile: raw['secret-key-file'],
    kafka: {
      brokers: raw['kafka-brokers'],
      replicationFactor: raw['kafka-replication-factor'],
      requestTimeoutMs: raw['kafka-request-timeout'],
      sasl:
        raw['kafka-sasl-mechanism'] === 'none'
          ? undefined
          : {
              mechanism: raw['kafka-sasl-mechanism'],
              username: raw['kafka-sasl-username'] ?? '',
              passwordFile: raw['kafka-sasl-password-file'] ?? '',
            },
      tls: raw['kafka-tls'],
      ca: raw['kafka-ca'],
    },
    eventTypes: {
      max: raw['event-types-max'],
      rate: raw['event-types-rate'],
      maxLength: raw['event-types-max-length'],
      file: raw['event-types-file'],
    },
    auth: {
      methods: raw.auth.filter((m) => m !== 'none'),
      tokensFile: raw['auth-tokens'],
      jwtJwks: raw['jwt-jwks'],
      jwtIssuers: raw['jwt-issuer'] ?? [],
      jwtAudience: raw['jwt-audience'],
      kubernetesAudience: raw['kubernetes-audience'],
      tokenReviewConcurrency: raw['token-review-concurrency'],
      maxAuthorizationSize: raw['max-auth-header'],
      jwksCooldownMs: raw['jwt-jwks-cooldown'],
      streamRecheckMs: raw['stream-auth-recheck'],
      allowedHosts: raw['allowed-hosts'],
    },
    policyFile: raw.policy,
    authzDefault: raw['authz-default'],
    maxSubscriptionsPerPrincipal: raw['max-subscriptions'],
    tls:
      raw['tls-cert'] === undefined || raw['tls-key'] === undefined
        ? undefined
        : { cert: raw['tls-cert'], key: raw['tls-key'] },
    limits: {
      maxSubscribersPerRequest: raw['max-subscribers-per-request'],
      maxSubscriptions: raw['max-subscriptions-total'],
      filter: {
        maxLength: raw['filter-max-length'],
        maxNodes: raw['filter-max-nodes'],
        maxLikePatterns: raw['filter-max-like-patterns'],
        maxCallDepth: raw['filter-max-call-depth'],
        evalBudget: raw['filter-eval-budget'],
      },
      logReadMaxWork: raw['log-read-max-work'],
      logReadMaxTimeMs: raw['log-read-max-time'],
      maxLogReads: raw['max-log-reads'],
      maxLogReadsPerClient: raw['max-log-reads-per-client'],
      logWriteTimeoutMs: raw['log-write-timeout'],
      deadLetterPageMaxBytes: raw['dead-letter-page-max-bytes'],
      maxDeadLetterReads: raw['max-dead-letter-reads'],
      maxDeadLetterReadsPerClient: raw['max-dead-letter-reads-per-client'],
      ingressRateBurst: raw['ingress-rate-burst'],
      ingressRateLimitPer: raw['ingress-rate-limit-per'],
      ingressRateLimitClients: raw['ingress-rate-limit-clients'],
      maxJsonDepth: raw['max-json-depth'],
      maxExtensions: raw['max-extensions'],
      maxBatchEvents: raw['max-batch-events'],
      maxTraceContext: raw['max-trace-context'],
      maxControlRequestSize: raw['max-control-request-size'],
      headersTimeoutMs: raw['headers-timeout'],
      requestTimeoutMs: raw['request-timeout'],
      keepAliveTimeoutMs: raw['keep-alive-timeout'],
      maxConnections: raw['max-connections'],
      maxConnectionsPerClient: raw['max-connections-per-client'],
      maxStreams: raw['max-streams'],
      maxStreamsPerClient: raw['max-streams-per-client'],
    },
  };
}

function natsSettings(raw: RawBrokerConfig): NatsSettings {
  const url = parseNatsUrls(raw['nats-url'] ?? '');
  const fromUrl = url.userinfo;
  const tlsWanted =
    url.tls ||
    raw['nats-tls'] ||
    raw['nats-ca'] !== undefined ||
    raw['nats-cert'] !== undefined ||
    raw['nats-key'] !== undefined;
  return {
    servers: url.servers,
    redactedServers: url.redacted,
    user:
      raw['nats-user'] !== undefined
        ? { name: raw['nats-user'], password: raw['nats-password'] ?? '' }
        : fromUrl?.password !== undefined
          ? { name: fromUrl.user, password: fromUrl.password }
          : undefined,
    // nats://token@host: a user name without a password is how NATS URLs carry a token.
    token:
      raw['nats-token'] ??
      (fromUrl !== undefined && fromUrl.password === undefined ? fromUrl.user : undefined),
    nkeySeedFile: raw['nats-nkey-seed-file'],
    credsFile: raw['nats-creds-file'],
    tls: tlsWanted ? { ca: raw['nats-ca'], cert: raw['nats-cert'], key: raw['nats-key'] } : undefined,
  };
}

const NUMERIC_KINDS = new Set<string>(['integer', 'number']);
/** A YAML number, or text of decimal digits (a sign and a fraction allowed; the schema checks the range). */
const isDecimal = (value: unknown): boolean =>
  typeof value === 'number' || (typeof value === 'string' && /^\s*[-+]?\d+(?:\.\d+)?\s*$/.test(value));

/** Options whose values are never repeated in an error message. */
const SECRET_OPTIONS = new Set<string>(
  BROKER_OPTIONS.filter((o) => 'secret' in o && o.secret).map((o) => o.name),
);

/** A value as an error message may show it: secrets hidden, credentials in URLs replaced. */
function shownValue(key: string, value: unknown): string {
  if (SECRET_OPTIONS.has(key)) return '(hidden)';
  return redactNatsUrls(JSON.stringify(value));
}

/**
 * Removes unknown `--name[=value]` flags (and the value that follows one) from `argv`, recording one
 * problem each. `parseArgs` stops at the first unknown flag, which would hide every other problem.
 */
function dropUnknownFlags(argv: readonly string[], problems: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    const name = /^--([^=]+)/.exec(arg)?.[1];
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
    const switchName = name?.replace(/^no-/, '');
    if (
      switchName !== undefined &&
      SWITCHES.has(switchName) &&
      value !== undefined &&
      SWITCH_VALUE.test(value)
    ) {
      // `--kubernetes true` would otherwise fail as a stray positional argument, naming no option.
      problems.push(
        `--${switchName}: a switch takes no value: write --${switchName} or --no-${switchName} (${envName(switchName)}=true|false in the environment)`,
      );
      if (!arg.includes('=')) i++;
      continue;
    }
    if (name === undefined || FLAG_NAMES.has(name)) {
      kept.push(arg);
      continue;
    }
    problems.push(`--${name}: unknown option`);
    const next = argv[i + 1];
    if (!arg.includes('=') && next !== undefined && !next.startsWith('-')) i++;
  }
  return kept;
}

/**
 * Merges defaults < `--config` YAML file < `HERALD_*` environment < flags, then validates the result
 * with the one schema. Throws `ConfigError` listing every problem at once.
 */
export function loadBrokerConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): BrokerConfig {
  const problems: string[] = [];
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};

  let flags: Record<string, string | boolean | undefined> = {};
  try {
    const parsed = parseArgs({
      args: dropUnknownFlags(argv, problems),
      strict: true,
      allowPositionals: false,
      allowNegative: true,
      options: {
        config: { type: 'string' },
        ...Object.fromEntries(
          BROKER_OPTIONS.map((o) => [
            o.name,
            { type: o.kind === 'boolean' ? ('boolean' as const) : ('string' as const) },
          ]),
        ),
      },
    });
    flags = parsed.values as Record<string, string | boolean | undefined>;
  } catch (error) {
    // Keep going without the flags, so that the file and environment are checked too.
    problems.push((error as Error).message.split('\n')[0] as string);
  }

  const configFile = (flags['config'] as string | undefined) ?? env['HERALD_CONFIG'];
  if (configFile !== undefined) {
    try {
      const document = parseYaml(readFileSync(configFile, 'utf8')) as unknown;
      if (document !== null && document !== undefined) {
        if (typeof document !== 'object' || Array.isArray(document)) {
          problems.push(`${configFile}: must be a YAML mapping of option names to values`);
        } else {
          for (const [key, value] of Object.entries(document)) {
            if (!NAMES.has(key)) problems.push(`${configFile}: unknown option '${key}'`);
            else {
              merged[key] = value;
              origin[key] = configFile;
            }
          }
        }
      }
    } catch (error) {
      problems.push(`${configFile}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  for (const option of BROKER_OPTIONS) {
    const value = env[envName(option.name)];
    if (value !== undefined && value !== '') {
      merged[option.name] = value;
      origin[option.name] = envName(option.name);
    }
  }
  for (const option of BROKER_OPTIONS) {
    const value = flags[option.name];
    if (value !== undefined) {
      merged[option.name] = value;
      origin[option.name] = `--${option.name}`;
    }
  }
  for (const option of BROKER_OPTIONS) {
    const value = merged[option.name];
    if (!NUMERIC_KINDS.has(option.kind) || value === undefined || isDecimal(value)) continue;
    // The schema's z.coerce reads "" (`--max-subscriptions=`) and a YAML key without a value as 0, which is
    // unlimited for several options, and true, 0x10 or 1e3 as numbers: only decimal text reaches it.
    const from = origin[option.name] === `--${option.name}` ? '' : ` (from ${origin[option.name]})`;
    problems.push(`--${option.name}${from}: must be a decimal number, got ${shownValue(option.name, value)}`);
    merged[option.name] = undefined; // the default stands in, so that the rest is still checked
  }
  const result = brokerConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? '');
      const from = origin[key] !== undefined && origin[key] !== `--${key}` ? ` (from ${origin[key]})` : '';
      const value = merged[key] === undefined ? '' : `, got ${shownValue(key, merged[key])}`;
      problems.push(key === '' ? issue.message : `--${key}${from}: ${issue.message}${value}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return toBrokerConfig((result as { data: RawBrokerConfig }).data);
}

export function brokerHelp(): string {
  const width = Math.max(...BROKER_OPTIONS.map((o) => o.name.length + o.kind.length)) + 6;
  const lines = BROKER_OPTIONS.map((o) => {
    if (o.kind === 'boolean') {
      // A switch, as `parseArgs` reads it: no value on the command line, true|false elsewhere.
      const head = `  --${o.name}, --no-${o.name}`.padEnd(width + 4);
      const def = `--${(o.default as string) === 'true' ? '' : 'no-'}${o.name}`;
      return `${head}${o.doc} (default ${def}) [${envName(o.name)}=true|false]`;
    }
    const head = `  --${o.name} <${o.kind}>`.padEnd(width + 4);
    const def = o.default === '' ? '' : ` (default ${o.default})`;
    return `${head}${o.doc}${def} [${envName(o.name)}]`;
  });
  return [
    'Usage: herald broker [options]',
    '',
    'Runs a broker: CloudEvents ingress, durable event log, subscriptions and push delivery.',
    'Each option is also read from HERALD_<OPTION> and from the YAML file given by --config.',
    '',
    'Options:',
    `  --config <file>`.padEnd(width + 4) + 'YAML file of options (keys as the flag names) [HERALD_CONFIG]',
    ...lines,
    `  --help`.padEnd(width + 4) + 'Show this help',
  ].join('\n');
}

export type { BrokerOptionName };
