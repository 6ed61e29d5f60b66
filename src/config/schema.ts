import { z } from 'zod';
import { parseSinkPolicy } from '../sink-guard/index.js';
import { parseNatsUrls } from './nats-url.js';
import { parseDuration, parseSize } from './units.js';

/**
 * Every `herald broker` option, documented once. The flag is `--<name>`, the environment variable
 * `HERALD_<NAME>` (upper-case, `-` → `_`) and the YAML key `<name>`. `--help` and the README table are
 * produced from, and tested against, this list.
 */
export const BROKER_OPTIONS = [
  {
    name: 'port',
    kind: 'integer',
    default: '8080',
    doc: 'HTTP port for ingress (and everything else unless --admin-port is set); 0 picks a free port.',
  },
  { name: 'host', kind: 'string', default: '0.0.0.0', doc: 'Address to listen on.' },
  {
    name: 'admin-port',
    kind: 'integer',
    default: '',
    doc: 'When set, everything but ingress (subscriptions, log read, /match, /stats, /eventtypes, /version, /metrics, /healthz, /readyz, /openapi.json, the dashboard, the seed subscribe routes) is served on this port instead of --port.',
  },
  { name: 'store', kind: 'embedded|jetstream|kafka', default: 'embedded', doc: 'Event store adapter.' },
  { name: 'data-dir', kind: 'path', default: './data', doc: 'Directory of the embedded store.' },
  {
    name: 'nats-url',
    kind: 'string',
    default: '',
    doc: 'NATS server URL(s), comma-separated (store jetstream).',
  },
  {
    name: 'stream-replicas',
    kind: 'integer',
    default: '1',
    doc: 'Replicas of the JetStream stream and buckets (store jetstream): 1, 3 or 5, at most the number of JetStream servers in the cluster.',
  },
  {
    name: 'nats-user',
    kind: 'string',
    default: '',
    doc: 'NATS user name, with --nats-password (store jetstream); nats://user:password@host in --nats-url does the same.',
  },
  {
    name: 'nats-password',
    kind: 'string',
    default: '',
    secret: true,
    doc: 'Password of --nats-user. Prefer HERALD_NATS_PASSWORD: a flag value shows in process lists.',
  },
  {
    name: 'nats-token',
    kind: 'string',
    default: '',
    secret: true,
    doc: 'NATS authentication token (store jetstream); nats://token@host in --nats-url does the same. Prefer HERALD_NATS_TOKEN.',
  },
  {
    name: 'nats-nkey-seed-file',
    kind: 'path',
    default: '',
    doc: 'File holding the NKey seed (SU…) the broker signs the server nonce with (store jetstream).',
  },
  {
    name: 'nats-creds-file',
    kind: 'path',
    default: '',
    doc: 'NATS credentials file (user JWT and NKey seed, as `nsc` writes it) for servers in operator mode (store jetstream).',
  },
  {
    name: 'nats-tls',
    kind: 'boolean',
    default: 'false',
    doc: 'Connect to NATS over TLS only (store jetstream); tls:// in --nats-url, --nats-ca or --nats-cert do the same.',
  },
  {
    name: 'nats-ca',
    kind: 'path',
    default: '',
    doc: 'PEM file of the CA(s) that sign the NATS server certificates, instead of the system ones; requires TLS.',
  },
  {
    name: 'nats-cert',
    kind: 'path',
    default: '',
    doc: 'PEM client certificate presented to NATS (TLS client authentication), with --nats-key; requires TLS.',
  },
  {
    name: 'nats-key',
    kind: 'path',
    default: '',
    doc: 'PEM private key of --nats-cert.',
  },
  {
    name: 'delivery-defaults',
    kind: 'json',
    default: '',
    doc: "Delivery settings (a JSON object, as a subscription's delivery field) used where a subscription sets none.",
  },
  {
    name: 'broker-name',
    kind: 'string',
    default: 'default',
    doc: 'Name of the broker this process serves (DNS label).',
  },
  {
    name: 'kubernetes',
    kind: 'boolean',
    default: 'false',
    doc: 'Use Kubernetes Subscription resources as the subscription registry.',
  },
  {
    name: 'namespace',
    kind: 'string',
    default: '',
    doc: "Kubernetes namespace (default: the pod's namespace).",
  },
  {
    name: 'log-level',
    kind: 'trace|debug|info|warn|error|fatal|silent',
    default: 'info',
    doc: 'Minimum level of the JSON logs written to stdout.',
  },
  {
    name: 'durability',
    kind: 'fsync|buffered',
    default: 'fsync',
    doc: 'Embedded store: fsync: a 202 means the event reached the disk. buffered: it survives a crash of the process, not of the machine. (JetStream and Kafka answer once their server acknowledged; their settings decide when that is on disk.)',
  },
  {
    name: 'store-writer',
    kind: 'auto|inline|thread',
    default: 'auto',
    doc: 'Embedded store: inline commits on the event loop; thread commits on a worker thread while requests are parsed (uses a second core); auto commits groups holding a batch (a request of 64 events or more) on the thread and the others inline when the broker may use more than one core, and inline on one core.',
  },
  {
    name: 'heap-semi-space',
    kind: 'size',
    default: '16MiB',
    doc: "Size of each of V8's two young-generation semi-spaces. On a Node.js with process.execve (24, 22.15+) `herald broker` restarts itself once at start, in place, with node's --max-semi-space-size unless the node command line or NODE_OPTIONS sets it; 0 keeps Node's own sizing (on Node 24 up to 64MiB, ~100 MB more resident under load; docs/operations.md).",
  },
  {
    name: 'max-event-size',
    kind: 'size',
    default: '1MiB',
    doc: 'Largest accepted event (attributes plus data); at least 64KiB as the spec requires.',
  },
  {
    name: 'max-request-size',
    kind: 'size',
    default: '16MiB',
    doc: 'Largest accepted request body (a batch).',
  },
  {
    name: 'dedupe-window',
    kind: 'duration',
    default: '2m',
    doc: 'An event whose (source, id) was accepted within this window is acknowledged but not stored again.',
  },
  {
    name: 'retention-max-age',
    kind: 'duration',
    default: '0',
    doc: 'Delete events older than this (0 = keep). With --store jetstream or kafka at least --dedupe-window (unless 0).',
  },
  {
    name: 'retention-max-events',
    kind: 'integer',
    default: '0',
    doc: 'Keep at most this many events (0 = unlimited).',
  },
  {
    name: 'retention-max-bytes',
    kind: 'size',
    default: '0',
    doc: 'Keep at most this many bytes of events (0 = unlimited).',
  },
  {
    name: 'dead-letter-max-age',
    kind: 'duration',
    default: '7d',
    doc: 'Remove dead letters older than this (0 = keep).',
  },
  {
    name: 'dead-letter-max-letters',
    kind: 'integer',
    default: '10000',
    doc: 'Most dead letters kept per subscription; over it, its oldest are removed (0 = unlimited).',
  },
  {
    name: 'dead-letter-max-bytes',
    kind: 'size',
    default: '64MiB',
    doc: 'Most bytes of dead letters (event data plus attributes) kept per subscription; over it, its oldest are removed (0 = unlimited).',
  },
  {
    name: 'dead-letter-page-max-bytes',
    kind: 'size',
    default: '4MiB',
    doc: 'Most bytes of dead letters (event data plus attributes) one GET /subscriptions/{id}/deadletters page holds past its first letter; a page ends there or at ?limit=, and Link: next continues after it.',
  },
  {
    name: 'ingress-rate-limit',
    kind: 'number',
    default: '0',
    doc: 'Events per second accepted by ingress before answering 429 (0 = unlimited).',
  },
  {
    name: 'log-refusals-interval',
    kind: 'duration',
    default: '10s',
    doc: 'At most one "request refused" warning (a 5xx refusal such as HERALD_STORE_UNAVAILABLE or HERALD_AUTH_UNAVAILABLE, which any client can provoke) or "request failed" error (HERALD_INTERNAL or HERALD_LOG_CORRUPT, with its stack), and at most one "reading the log failed" error of the subscriptions catching up and the shared tail, per error code per interval, with the number it stands for; the rest are counted in herald_log_lines_suppressed_total. 0 logs every one.',
  },
  {
    name: 'shutdown-delay',
    kind: 'duration',
    default: '0s',
    doc: 'How long SIGTERM keeps serving, with /readyz already 503, before the listeners close: time for a load balancer or Kubernetes Service to stop sending (the operator sets 5s). 0 closes at once.',
  },
  {
    name: 'shutdown-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'How long SIGTERM waits for in-flight requests and deliveries; delivery attempts still running then are aborted and retried after a restart.',
  },
  {
    name: 'sink-deny',
    kind: 'list',
    default: 'loopback,link-local,unspecified,multicast',
    doc: 'Address categories never delivered to (loopback, link-local, private, unspecified, multicast), checked at create time and on every resolved address when connecting; empty = none.',
  },
  {
    name: 'sink-allow',
    kind: 'list',
    default: '',
    doc: 'CIDRs, addresses or host globs (*.svc.cluster.local) delivered to even when --sink-deny covers them. `npm start` passes 127.0.0.0/8,::1.',
  },
  {
    name: 'sink-ca',
    kind: 'path',
    default: '',
    doc: 'PEM file of CA certificates trusted for https sinks, besides the system ones.',
  },
  {
    name: 'sink-response-limit',
    kind: 'size',
    default: '16KiB',
    doc: "Bytes of a sink's answer read (and discarded); a longer answer's connection is dropped.",
  },
  {
    name: 'sink-handshake',
    kind: 'off|required',
    default: 'off',
    doc: 'required: a subscription delivers only after its sink consented in the CloudEvents Web Hook validation handshake (state validating until then).',
  },
  {
    name: 'sink-handshake-origin',
    kind: 'string',
    default: '',
    doc: 'The WebHook-Request-Origin the broker names in the handshake and on each delivery (default: the host name).',
  },
  {
    name: 'sensitive-headers',
    kind: 'list',
    default: '',
    doc: 'protocolsettings.headers names that are write-only besides Authorization, Cookie and Proxy-Authorization.',
  },
  {
    name: 'secret-key-file',
    kind: 'path',
    default: '',
    doc: 'File with a 256-bit key (64 hex digits); sink credentials and sensitive headers are then stored AES-256-GCM encrypted.',
  },
  {
    name: 'kafka-brokers',
    kind: 'string',
    default: '',
    doc: 'Kafka bootstrap brokers, host:port comma-separated (store kafka).',
  },
  {
    name: 'kafka-replication-factor',
    kind: 'integer',
    default: '1',
    doc: 'Replication factor of the topics Herald creates (store kafka); 3 for a production cluster.',
  },
  {
    name: 'kafka-request-timeout',
    kind: 'duration',
    default: '5s',
    doc: 'How long the Kafka store waits for an answer to one request (store kafka); a node that lets it pass is tried last afterwards.',
  },
  {
    name: 'kafka-sasl-mechanism',
    kind: 'none|plain|scram-sha-256|scram-sha-512',
    default: 'none',
    doc: 'SASL mechanism for Kafka connections (store kafka).',
  },
  {
    name: 'kafka-sasl-username',
    kind: 'string',
    default: '',
    doc: 'SASL user name (store kafka).',
  },
  {
    name: 'kafka-sasl-password-file',
    kind: 'path',
    default: '',
    doc: 'File holding the SASL password (store kafka); never a flag value, so it stays out of process lists.',
  },
  {
    name: 'kafka-tls',
    kind: 'boolean',
    default: 'false',
    doc: 'Connect to Kafka over TLS (store kafka).',
  },
  {
    name: 'kafka-ca',
    kind: 'path',
    default: '',
    doc: 'PEM file of the CA(s) that sign the Kafka certificates, instead of the system ones (with --kafka-tls).',
  },
  {
    name: 'event-types-max',
    kind: 'integer',
    default: '1000',
    doc: 'Most distinct (type, source) pairs the event type registry keeps; new ones past it are counted in herald_event_types_dropped_total, not registered (0 = no registry).',
  },
  {
    name: 'event-types-rate',
    kind: 'number',
    default: '20',
    doc: 'Writes per second from the event type registry to its backing store (EventType resources with --kubernetes).',
  },
  {
    name: 'event-types-max-length',
    kind: 'integer',
    default: '1024',
    doc: 'Longest type or source (characters) the event type registry registers; a pair with a longer one is counted in herald_event_types_dropped_total{reason="too-long"}, not registered (the event is still accepted).',
  },
  {
    name: 'event-types-file',
    kind: 'path',
    default: '',
    doc: 'YAML list of declared event types (type, source, description, schema, validation) for a broker without --kubernetes.',
  },
  {
    name: 'auth',
    kind: 'none|tokens,jwt,kubernetes',
    default: 'none',
    doc: 'How requests authenticate (Authorization: Bearer): none, or a comma-separated list of tokens, jwt, kubernetes.',
  },
  {
    name: 'auth-tokens',
    kind: 'path',
    default: '',
    doc: 'YAML list of static tokens (- { principal: NAME, sha256: HEX } or token:), reloaded when it changes (auth tokens).',
  },
  {
    name: 'jwt-jwks',
    kind: 'path|url',
    default: '',
    doc: 'JSON Web Key Set that signs accepted JWTs: a file (reloaded when it changes) or an http(s) URL (cached; refetched for an unknown kid) (auth jwt).',
  },
  {
    name: 'jwt-issuer',
    kind: 'string',
    default: '',
    doc: 'Accepted JWT issuers (iss), comma-separated; with several, the principal is ISSUER#SUB (auth jwt).',
  },
  {
    name: 'jwt-audience',
    kind: 'string',
    default: '',
    doc: 'Audience (aud) a JWT must carry (auth jwt).',
  },
  {
    name: 'kubernetes-audience',
    kind: 'string',
    default: 'herald',
    doc: 'Audience a ServiceAccount token must be bound to, checked with a TokenReview (auth kubernetes).',
  },
  {
    name: 'token-review-concurrency',
    kind: 'integer',
    default: '16',
    doc: 'Most TokenReviews in flight at once (auth kubernetes); a token that needs another answers 503 HERALD_AUTH_UNAVAILABLE (herald_auth_failures_total{reason="busy"}). Tokens not naming --kubernetes-audience, or without a future exp, are refused without a review.',
  },
  {
    name: 'policy',
    kind: 'path',
    default: '',
    doc: 'YAML authorization policy: rules of principals (names or globs) x actions (publish, subscribe, read, admin), optional CESQL filter on publish.',
  },
  {
    name: 'authz-default',
    kind: 'allow-authenticated|deny',
    default: 'allow-authenticated',
    doc: 'Without --policy (and EventPolicy resources): allow-authenticated lets every authenticated principal publish, subscribe and read (admin needs a rule; with --auth none, anonymous may do everything); deny refuses all, anonymous too.',
  },
  {
    name: 'max-auth-header',
    kind: 'size',
    default: '8KiB',
    doc: 'Largest accepted Authorization header; larger answers 431.',
  },
  {
    name: 'max-subscriptions',
    kind: 'integer',
    default: '1000',
    doc: 'Most subscriptions one authenticated principal may own (0 = unlimited); more answers 403.',
  },
  {
    name: 'tls-cert',
    kind: 'path',
    default: '',
    doc: 'PEM certificate chain: serve HTTPS on every listener; reloaded when the file changes.',
  },
  {
    name: 'tls-key',
    kind: 'path',
    default: '',
    doc: 'PEM private key of --tls-cert; reloaded when the file changes.',
  },
  {
    name: 'jwt-jwks-cooldown',
    kind: 'duration',
    default: '30s',
    doc: 'A JWKS URL is refetched for a token with an unknown kid (key rotation) at most this often (auth jwt).',
  },
  {
    name: 'stream-auth-recheck',
    kind: 'duration',
    default: '30s',
    doc: 'How often an open GET /events/stream authenticates its original credential again and re-checks its read rule; a refused one ends the stream (a JWT stream also ends at its exp) (herald_stream_auth_ends_total).',
  },
  {
    name: 'allowed-hosts',
    kind: 'string',
    default: '',
    doc: 'Host names (comma-separated; *.example.com for a domain) browsers may address the broker by, besides IP addresses, localhost, names without a dot and Kubernetes service names (*.svc, *.svc.<cluster domain>); a browser request to any other Host is a 403 HERALD_CROSS_ORIGIN (DNS rebinding).',
  },
  {
    name: 'max-subscribers-per-request',
    kind: 'integer',
    default: '100',
    doc: 'Most subscribers one POST /events/sub may name; more is a 400 (HERALD_TOO_MANY_SUBSCRIBERS).',
  },
  {
    name: 'max-subscriptions-total',
    kind: 'integer',
    default: '10000',
    doc: 'Most subscriptions a broker holds, whoever owns them (--max-subscriptions bounds each principal); creating more is a 409 (HERALD_TOO_MANY_SUBSCRIPTIONS).',
  },
  {
    name: 'filter-max-length',
    kind: 'integer',
    default: '16384',
    doc: 'Longest CESQL expression (characters) in a filter or ?filter=; longer is a 400 (HERALD_FILTER_TOO_COSTLY).',
  },
  {
    name: 'filter-max-nodes',
    kind: 'integer',
    default: '512',
    doc: "Most nodes in all of one subscription's filters together, or in one ?filter= (each filter, attribute, data condition and CESQL operator, operand or call counts one); more is a 400 (HERALD_FILTER_TOO_COSTLY).",
  },
  {
    name: 'filter-max-like-patterns',
    kind: 'integer',
    default: '32',
    doc: 'Most LIKE patterns in one CESQL expression.',
  },
  {
    name: 'filter-max-call-depth',
    kind: 'integer',
    default: '8',
    doc: 'Deepest nesting of CESQL function calls (CONCAT(LOWER(CONCAT(…))) is 3).',
  },
  {
    name: 'filter-eval-budget',
    kind: 'integer',
    default: '1000000',
    doc: 'String work (characters read or built by LOWER, UPPER, CONCAT, …; 4 per step of a LIKE) all CESQL filters of one subscription (or one ?filter=) may spend together on one event; over it the event does not match and herald_filter_budget_exceeded_total counts it.',
  },
  {
    name: 'log-read-max-work',
    kind: 'integer',
    default: '20000000',
    doc: 'Filter work one GET /events page or one /events/stream slice may spend before answering with what it has (and next to continue).',
  },
  {
    name: 'log-read-max-time',
    kind: 'duration',
    default: '250ms',
    doc: 'Time one GET /events page or one /events/stream slice may take before answering with what it has.',
  },
  {
    name: 'ingress-rate-burst',
    kind: 'integer',
    default: '0',
    doc: 'Events a publisher may send at once under --ingress-rate-limit (0 = one second of the rate); a larger request is a 413 (HERALD_RATE_BURST_EXCEEDED).',
  },
  {
    name: 'ingress-rate-limit-per',
    kind: 'global|client',
    default: 'global',
    doc: 'global: one bucket for all publishers; client: one bucket per client (principal when authenticated, else peer address).',
  },
  {
    name: 'ingress-rate-limit-clients',
    kind: 'integer',
    default: '10000',
    doc: 'Most clients tracked by the per-client rate limit; the least recently seen is forgotten first.',
  },
  {
    name: 'max-json-depth',
    kind: 'integer',
    default: '64',
    doc: 'Deepest nesting of arrays and objects in a JSON body (event data included); deeper is a 400 (HERALD_JSON_TOO_DEEP).',
  },
  {
    name: 'max-extensions',
    kind: 'integer',
    default: '64',
    doc: 'Most extension attributes per event; more is a 400 (HERALD_TOO_MANY_EXTENSIONS).',
  },
  {
    name: 'max-trace-context',
    kind: 'size',
    default: '2KiB',
    doc: 'Most bytes of trace context headers (traceparent, tracestate, B3, x-request-id: names plus values) stored with each event of a request and forwarded on its delivery; a header that does not fit is not kept (counted in herald_limit_rejections_total{limit="max-trace-context"}), the traceparent first.',
  },
  {
    name: 'max-batch-events',
    kind: 'integer',
    default: '5000',
    doc: 'Most events one batch request may carry, counted while the body is scanned and before any is parsed; more is a 413 (HERALD_TOO_MANY_EVENTS).',
  },
  {
    name: 'max-control-request-size',
    kind: 'size',
    default: '1MiB',
    doc: 'Largest control-API request body (subscriptions, seed routes); larger is a 413 (HERALD_PAYLOAD_TOO_LARGE).',
  },
  {
    name: 'headers-timeout',
    kind: 'duration',
    default: '20s',
    doc: "How long a client may take to send a request's headers (then 408).",
  },
  {
    name: 'request-timeout',
    kind: 'duration',
    default: '60s',
    doc: 'How long a client may take to send a whole request, body included (then 408 HERALD_REQUEST_TIMEOUT and the connection is closed).',
  },
  {
    name: 'keep-alive-timeout',
    kind: 'duration',
    default: '65s',
    doc: "How long an idle keep-alive connection stays open (above common proxies' 60 s, so they close first); at least 1s.",
  },
  {
    name: 'max-connections',
    kind: 'integer',
    default: '10000',
    doc: 'Most open connections per port; further ones get 503 (HERALD_TOO_MANY_CONNECTIONS) and are closed.',
  },
  {
    name: 'max-connections-per-client',
    kind: 'integer',
    default: '1024',
    doc: 'Most open connections per client address per port.',
  },
  {
    name: 'max-streams',
    kind: 'integer',
    default: '1000',
    doc: 'Most open /events/stream (SSE) streams; more is a 503 (HERALD_STREAM_CAPACITY).',
  },
  {
    name: 'max-streams-per-client',
    kind: 'integer',
    default: '64',
    doc: 'Most open /events/stream streams per client (principal, else address); more is a 429 (HERALD_TOO_MANY_STREAMS).',
  },
  {
    name: 'max-log-reads',
    kind: 'integer',
    default: '64',
    doc: 'Most GET /events pages being answered at once (each holds about one chunk and one event of memory until its reader takes it); more is a 503 (HERALD_LOG_READ_CAPACITY).',
  },
  {
    name: 'max-log-reads-per-client',
    kind: 'integer',
    default: '8',
    doc: 'Most GET /events pages answered at once for one client (principal, else address), so one slow reader cannot take every --max-log-reads slot; more is a 429 (HERALD_TOO_MANY_LOG_READS).',
  },
  {
    name: 'max-dead-letter-reads',
    kind: 'integer',
    default: '8',
    doc: 'Most GET /subscriptions/{id}/deadletters pages being answered at once (each holds up to --dead-letter-page-max-bytes of letters and their rendering until its reader took it); more is a 503 (HERALD_DEAD_LETTER_READ_CAPACITY).',
  },
  {
    name: 'max-dead-letter-reads-per-client',
    kind: 'integer',
    default: '2',
    doc: 'Of those, most for one client (principal, else address); more is a 429 (HERALD_TOO_MANY_DEAD_LETTER_READS).',
  },
  {
    name: 'log-write-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'How long a GET /events page or /events/stream reader (or a dead-letter page reader) may leave written data untaken; then the response is destroyed (herald_limit_rejections_total{limit="log-write-timeout"}).',
  },
] as const;

export type BrokerOptionName = (typeof BROKER_OPTIONS)[number]['name'];

const duration = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  // A YAML number has no unit: like `30` on the command line it is refused, but for 0, rather than read
  // as milliseconds (`shutdown-timeout: 30` meant as seconds was 30 ms).
  if (typeof value === 'number' && value !== 0) {
    ctx.addIssue({ code: 'custom', message: `${value} has no unit (write e.g. ${value}s or ${value}ms)` });
    return z.NEVER;
  }
  if (typeof value === 'number') return value;
  const ms = value === '0' ? 0 : parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 30s, 2m, PT2M)` });
    return z.NEVER;
  }
  return ms;
});

/**
 * A duration the broker waits for with a timer: at most `days` days. setTimeout and setInterval run a delay
 * over 2^31-1 ms (24.8 days) after 1 ms, with only a TimeoutOverflowWarning, so `--shutdown-timeout 25d`
 * reset every request in flight at SIGTERM. 24d fits; a timeout waited for twice over takes 12d.
 */
const timerDuration = (days: 24 | 12) =>
  duration.pipe(
    z
      .number()
      .max(
        days * 86_400_000,
        `must be at most ${days}d (a Node.js timer fires at once past 24.8 days${days === 12 ? ', and this one is waited for twice over' : ''})`,
      ),
  );

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (e.g. 65536, 64KiB, 1MiB)` });
    return z.NEVER;
  }
  return bytes;
});

const integer = z.coerce.number().int();
const MIB = 1024 * 1024;
/** A comma-separated list on the command line and in the environment; a string or a list in YAML. */
const list = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v.join(',') : v));
const boolean = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');

export const brokerConfigSchema = z
  .strictObject({
    // 0 asks the OS for a free port (the listening log line names the one chosen).
    port: integer.min(0).max(65535).default(8080),
    host: z.string().min(1).default('0.0.0.0'),
    'admin-port': integer.min(0).max(65535).optional(),
    store: z.enum(['embedded', 'jetstream', 'kafka']).default('embedded'),
    'data-dir': z.string().min(1).default('./data'),
    'nats-url': z.string().min(1).optional(),
    'stream-replicas': integer
      .refine((n) => n === 1 || n === 3 || n === 5, {
        message:
          'must be 1, 3 or 5 (JetStream replicates by majority: 2 tolerates no more failures than 1, 4 no more than 3)',
      })
      .default(1),
    'nats-user': z.string().min(1).optional(),
    'nats-password': z.string().min(1).optional(),
    'nats-token': z.string().min(1).optional(),
    'nats-nkey-seed-file': z.string().min(1).optional(),
    'nats-creds-file': z.string().min(1).optional(),
    'nats-tls': boolean.default(false),
    'nats-ca': z.string().min(1).optional(),
    'nats-cert': z.string().min(1).optional(),
    'nats-key': z.string().min(1).optional(),
    // Checked field by field against the subscriptions' delivery schema when the broker starts.
    'delivery-defaults': z
      .union([z.string(), z.record(z.string(), z.unknown())])
      .transform((value, ctx) => {
        if (typeof value !== 'string') return value;
        try {
          const parsed = JSON.parse(value) as unknown;
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
            return parsed as Record<string, unknown>;
        } catch {
          // reported below
        }
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"retry":3}' });
        return z.NEVER;
      })
      .optional(),
    'broker-name': z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label (lower-case letters, digits, -)')
      .default('default'),
    kubernetes: boolean.default(false),
    namespace: z.string().min(1).optional(),
    'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    durability: z.enum(['fsync', 'buffered']).default('fsync'),
    'store-writer': z.enum(['auto', 'inline', 'thread']).default('auto'),
    'heap-semi-space': size
      .pipe(
        z
          .number()
          .refine(
            (bytes) => bytes === 0 || (bytes % MIB === 0 && bytes <= 1024 * MIB),
            'must be 0 or a whole number of MiB up to 1GiB',
          ),
      )
      .default(16 * MIB),
    'max-event-size': size
      .pipe(z.number().min(65536, 'must be at least 64KiB (CloudEvents size limits)'))
      .default(1024 * 1024),
    'max-request-size': size.pipe(z.number().min(65536, 'must be at least 64KiB')).default(16 * 1024 * 1024),
    'dedupe-window': duration.default(120_000),
    'retention-max-age': duration.default(0),
    'retention-max-events': integer.min(0).default(0),
    'retention-max-bytes': size.default(0),
    'dead-letter-max-age': duration.default(7 * 86_400_000),
    'dead-letter-max-letters': integer.min(0).default(10_000),
    'dead-letter-max-bytes': size.default(64 * MIB),
    'dead-letter-page-max-bytes': size.pipe(z.number().min(1, 'must be at least 1 byte')).default(4 * MIB),
    'ingress-rate-limit': z.coerce.number().min(0).default(0),
    'log-refusals-interval': duration.default(10_000),
    'shutdown-delay': timerDuration(24).default(0),
    'shutdown-timeout': timerDuration(24).default(30_000),
    'sink-deny': list.default('loopback,link-local,unspecified,multicast'),
    'sink-allow': list.default(''),
    'sink-ca': z.string().min(1).optional(),
    'sink-response-limit': size.pipe(z.number().min(1024, 'must be at least 1KiB')).default(16 * 1024),
    'sink-handshake': z.enum(['off', 'required']).default('off'),
    'sink-handshake-origin': z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a DNS name')
      .optional(),
    'sensitive-headers': list.default(''),
    'secret-key-file': z.string().min(1).optional(),
    'kafka-brokers': z.string().min(1).optional(),
    'kafka-replication-factor': integer.min(1).max(32).default(1),
    'kafka-request-timeout': timerDuration(12)
      .pipe(z.number().min(500, 'must be at least 500ms'))
      .default(5_000),
    'kafka-sasl-mechanism': z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512']).default('none'),
    'kafka-sasl-username': z.string().min(1).optional(),
    'kafka-sasl-password-file': z.string().min(1).optional(),
    'kafka-tls': boolean.default(false),
    'kafka-ca': z.string().min(1).optional(),
    'event-types-max': integer.min(0).default(1000),
    'event-types-rate': z.coerce.number().positive().default(20),
    'event-types-max-length': integer.min(16).default(1024),
    'event-types-file': z.string().min(1).optional(),
    auth: z
      .string()
      .transform((value) => value.split(',').map((m) => m.trim()))
      .pipe(
        z
          .array(
            z.enum(
              ['none', 'tokens', 'jwt', 'kubernetes'],
              'must be none or a list of tokens, jwt, kubernetes',
            ),
          )
          .refine((m) => !m.includes('none') || m.length === 1, 'none cannot be combined with other methods')
          .refine((m) => new Set(m).size === m.length, 'lists a method twice'),
      )
      .default(['none']),
    'auth-tokens': z.string().min(1).optional(),
    'jwt-jwks': z.string().min(1).optional(),
    'jwt-issuer': z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((i) => i.trim())
          .filter((i) => i !== ''),
      )
      .optional(),
    'jwt-audience': z.string().min(1).optional(),
    'kubernetes-audience': z.string().min(1).default('herald'),
    'token-review-concurrency': integer.min(1).default(16),
    policy: z.string().min(1).optional(),
    'authz-default': z.enum(['allow-authenticated', 'deny']).default('allow-authenticated'),
    'max-auth-header': size.pipe(z.number().min(256, 'must be at least 256 bytes')).default(8192),
    'max-subscriptions': integer.min(0).default(1000),
    'tls-cert': z.string().min(1).optional(),
    'tls-key': z.string().min(1).optional(),
    'jwt-jwks-cooldown': duration.default(30_000),
    'stream-auth-recheck': timerDuration(24)
      .pipe(z.number().min(1000, 'must be at least 1s'))
      .default(30_000),
    'allowed-hosts': list
      .transform((value) =>
        value
          .split(',')
          .map((host) => host.trim().toLowerCase())
          .filter((host) => host !== ''),
      )
      .pipe(
        z.array(
          z
            .string()
            .regex(
              /^(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/,
              'must be host names (no scheme or port), or *.domain',
            ),
        ),
      )
      .default([]),
    'max-subscribers-per-request': integer.min(1).default(100),
    'max-subscriptions-total': integer.min(1).default(10_000),
    'filter-max-length': integer
      .min(16)
      .max(1024 * 1024)
      .default(16_384),
    'filter-max-nodes': integer.min(1).default(512),
    'filter-max-like-patterns': integer.min(0).default(32),
    'filter-max-call-depth': integer.min(0).default(8),
    'filter-eval-budget': integer.min(1000).default(1_000_000),
    'log-read-max-work': integer.min(1000).default(20_000_000),
    'log-read-max-time': duration.pipe(z.number().min(1, 'must be at least 1ms')).default(250),
    'ingress-rate-burst': integer.min(0).default(0),
    'ingress-rate-limit-per': z.enum(['global', 'client']).default('global'),
    'ingress-rate-limit-clients': integer.min(1).default(10_000),
    'max-json-depth': integer.min(2).max(10_000).default(64),
    'max-extensions': integer.min(0).default(64),
    'max-batch-events': integer.min(1).default(5000),
    // A W3C traceparent with its name is 66 bytes: the bound never drops a valid one on its own.
    'max-trace-context': size.pipe(z.number().min(128, 'must be at least 128 bytes')).default(2048),
    'max-control-request-size': size.pipe(z.number().min(1024, 'must be at least 1KiB')).default(1024 * 1024),
    'headers-timeout': duration.pipe(z.number().min(1000, 'must be at least 1s')).default(20_000),
    'request-timeout': duration.pipe(z.number().min(1000, 'must be at least 1s')).default(60_000),
    // Node reads 0 as "never": an idle connection would stay open for as long as its client likes.
    'keep-alive-timeout': duration.pipe(z.number().min(1000, 'must be at least 1s')).default(65_000),
    'max-connections': integer.min(1).default(10_000),
    'max-connections-per-client': integer.min(1).default(1024),
    'max-streams': integer.min(0).default(1000),
    'max-streams-per-client': integer.min(0).default(64),
    'max-log-reads': integer.min(1).default(64),
    'max-log-reads-per-client': integer.min(1).default(8),
    'max-dead-letter-reads': integer.min(1).default(8),
    'max-dead-letter-reads-per-client': integer.min(1).default(2),
    'log-write-timeout': timerDuration(24).pipe(z.number().min(1000, 'must be at least 1s')).default(30_000),
  })
  .superRefine((config, ctx) => {
    for (const problem of parseSinkPolicy(config['sink-deny'], config['sink-allow']).problems) {
      const key = problem.startsWith('--sink-deny') ? 'sink-deny' : 'sink-allow';
      ctx.addIssue({ code: 'custom', path: [key], message: problem.replace(/^--sink-(deny|allow): /, '') });
    }
    if (config.store === 'jetstream' && config['nats-url'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['nats-url'], message: 'is required when --store is jetstream' });
    }
    checkNatsSettings(config, ctx);
    if (config.store === 'kafka' && config['kafka-brokers'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['kafka-brokers'], message: 'is required when --store is kafka' });
    }
    if (
      config['kafka-sasl-mechanism'] !== 'none' &&
      (config['kafka-sasl-username'] === undefined || config['kafka-sasl-password-file'] === undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['kafka-sasl-mechanism'],
        message: 'needs --kafka-sasl-username and --kafka-sasl-password-file',
      });
    }
    if (config['kafka-ca'] !== undefined && !config['kafka-tls']) {
      ctx.addIssue({ code: 'custom', path: ['kafka-ca'], message: 'is used only with --kafka-tls' });
    }
    // JetStream and Kafka rebuild their dedupe window from the events still stored (nats-server after
    // its restart, Herald's Kafka store on start), so an event the age limit deleted inside the window
    // would be stored again when re-sent; JetStream also caps its duplicate_window at max_age. The
    // embedded store keeps the keys retention deletes (retired-keys.ts) and needs no such bound.
    const maxAge = config['retention-max-age'];
    if (config.store !== 'embedded' && maxAge > 0 && maxAge < config['dedupe-window']) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention-max-age'],
        message: `must be at least --dedupe-window with --store ${config.store} (or set --dedupe-window to at most --retention-max-age)`,
      });
    }
    if (config['max-request-size'] < config['max-event-size']) {
      ctx.addIssue({
        code: 'custom',
        path: ['max-request-size'],
        message: 'must be at least --max-event-size',
      });
    }
    if (
      config['admin-port'] !== undefined &&
      config['admin-port'] !== 0 &&
      config['admin-port'] === config.port
    ) {
      ctx.addIssue({ code: 'custom', path: ['admin-port'], message: 'must differ from --port' });
    }
    const auth = config.auth;
    if (auth.includes('tokens') && config['auth-tokens'] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth-tokens'],
        message: 'is required when --auth includes tokens',
      });
    }
    if (auth.includes('jwt')) {
      for (const key of ['jwt-jwks', 'jwt-issuer', 'jwt-audience'] as const) {
        const value = config[key];
        if (value === undefined || value.length === 0) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'is required when --auth includes jwt' });
        }
      }
    }
    if ((config['tls-cert'] === undefined) !== (config['tls-key'] === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls-key'], message: '--tls-cert and --tls-key go together' });
    }
  });

export type RawBrokerConfig = z.output<typeof brokerConfigSchema>;

type NatsKeys =
  | 'nats-url'
  | 'nats-user'
  | 'nats-password'
  | 'nats-token'
  | 'nats-nkey-seed-file'
  | 'nats-creds-file'
  | 'nats-cert'
  | 'nats-key';

/** One way to authenticate to NATS at a time, and the TLS files that belong together. */
function checkNatsSettings(config: Pick<RawBrokerConfig, NatsKeys>, ctx: z.RefinementCtx): void {
  const problem = (key: NatsKeys, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  const url = config['nats-url'] === undefined ? undefined : parseNatsUrls(config['nats-url']);
  for (const message of url?.problems ?? []) problem('nats-url', message);
  if ((config['nats-user'] === undefined) !== (config['nats-password'] === undefined)) {
    problem('nats-user', '--nats-user and --nats-password go together');
  }
  const methods = [
    ...(url?.userinfo === undefined ? [] : ['credentials in --nats-url']),
    ...(config['nats-user'] === undefined && config['nats-password'] === undefined
      ? []
      : ['--nats-user/--nats-password']),
    ...(config['nats-token'] === undefined ? [] : ['--nats-token']),
    ...(config['nats-nkey-seed-file'] === undefined ? [] : ['--nats-nkey-seed-file']),
    ...(config['nats-creds-file'] === undefined ? [] : ['--nats-creds-file']),
  ];
  if (methods.length > 1) {
    problem('nats-url', `give one way to authenticate to NATS, not ${methods.join(' and ')}`);
  }
  if ((config['nats-cert'] === undefined) !== (config['nats-key'] === undefined)) {
    problem('nats-key', '--nats-cert and --nats-key go together');
  }
}
