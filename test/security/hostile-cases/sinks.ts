/**
 * Hostile sink addresses: every one must be refused with `400 HERALD_SINK_FORBIDDEN` and create
 * nothing. They hold for any broker started through test/harness/processes.ts, whose only sink
 * allowance is 127.0.0.1/32: the loopback spellings here name other loopback addresses (127.0.0.2,
 * ::1, localhost) so that the allowance does not cover them. test/security/sink-guard.test.ts runs
 * the 127.0.0.1 spellings against a broker without the allowance.
 */
export interface HostileCase {
  readonly name: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: unknown;
  };
  readonly expect: { readonly status: number; readonly code: string };
}

/** Sink URLs that name a denied address (loopback other than 127.0.0.1, link-local, unspecified, multicast). */
export const DENIED_SINKS: ReadonlyArray<readonly [string, string]> = [
  ['dotted loopback', 'http://127.0.0.2:9/'],
  ['short loopback 127.2', 'http://127.2:9/'],
  ['hex loopback 0x7f.2', 'http://0x7f.2:9/'],
  ['hex loopback 0x7f000002', 'http://0x7f000002:9/'],
  ['decimal loopback 2130706434', 'http://2130706434:9/'],
  ['octal loopback 017700000002', 'http://017700000002:9/'],
  ['octal dotted loopback 0177.0.0.2', 'http://0177.0.0.2:9/'],
  ['loopback with a trailing dot', 'http://127.0.0.2.:9/'],
  ['loopback 127.255.255.254', 'http://127.255.255.254:9/'],
  ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.2]:9/'],
  ['IPv4-mapped IPv6 loopback in hex', 'http://[::ffff:7f00:2]:9/'],
  ['IPv4-compatible IPv6 loopback', 'http://[::127.0.0.2]:9/'],
  ['NAT64 loopback', 'http://[64:ff9b::127.0.0.2]:9/'],
  ['IPv6 loopback', 'http://[::1]:9/'],
  ['IPv6 loopback written out', 'http://[0:0:0:0:0:0:0:1]:9/'],
  ['localhost', 'http://localhost:9/'],
  ['LOCALHOST upper case', 'http://LOCALHOST:9/'],
  ['localhost with a trailing dot', 'http://localhost.:9/'],
  ['a name under .localhost', 'http://api.localhost:9/'],
  ['https on localhost', 'https://localhost/'],
  ['unspecified 0.0.0.0', 'http://0.0.0.0:9/'],
  ['unspecified 0', 'http://0:9/'],
  ['unspecified IPv6', 'http://[::]:9/'],
  ['cloud metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data/'],
  ['cloud metadata in decimal', 'http://2852039166/latest/meta-data/'],
  ['cloud metadata in hex', 'http://0xa9.0xfe.0xa9.0xfe/'],
  ['cloud metadata IPv4-mapped', 'http://[::ffff:169.254.169.254]/'],
  ['IPv6 link-local', 'http://[fe80::1]:9/'],
  ['multicast 224.0.0.1', 'http://224.0.0.1:9/'],
  ['broadcast', 'http://255.255.255.255:9/'],
  ['IPv6 multicast', 'http://[ff02::1]:9/'],
];

const subscription = (sink: string) => ({ sink, protocol: 'HTTP' });

export const cases: readonly HostileCase[] = [
  ...DENIED_SINKS.map(([name, sink]) => ({
    name: `POST /subscriptions: sink on ${name}`,
    request: { method: 'POST', path: '/subscriptions', body: subscription(sink) },
    expect: { status: 400, code: 'HERALD_SINK_FORBIDDEN' },
  })),
  ...DENIED_SINKS.filter((_, i) => i % 3 === 0).map(([name, sink]) => ({
    name: `POST /subscriptions: dead-letter sink on ${name}`,
    request: {
      method: 'POST',
      path: '/subscriptions',
      body: { ...subscription('http://127.0.0.1:9/'), delivery: { deadLetterSink: sink } },
    },
    expect: { status: 400, code: 'HERALD_SINK_FORBIDDEN' },
  })),
  ...DENIED_SINKS.filter((_, i) => i % 2 === 0).map(([name, sink]) => ({
    name: `POST /events/sub: subscriber on ${name}`,
    request: { method: 'POST', path: '/events/sub', body: { subscribers: [sink] } },
    expect: { status: 400, code: 'HERALD_SINK_FORBIDDEN' },
  })),
  {
    name: 'POST /events/sub: an allowed subscriber then a denied one creates neither',
    request: {
      method: 'POST',
      path: '/events/sub',
      body: { subscribers: ['http://127.0.0.1:9/', 'http://169.254.169.254/'] },
    },
    expect: { status: 400, code: 'HERALD_SINK_FORBIDDEN' },
  },
  ...(
    [
      ['backoffDelay', { backoffDelay: 'P30D' }],
      ['backoffDelay beyond the timer limit', { backoffDelay: 'P25D' }],
      ['backoffMax', { backoffMax: 'P2D' }],
      ['timeout', { timeout: 'P1000D' }],
      ['batch.maxWait', { batch: { maxWait: 'PT2H' } }],
    ] as const
  ).map(([name, delivery]) => ({
    name: `POST /subscriptions: ${name} above its cap`,
    request: {
      method: 'POST',
      path: '/subscriptions',
      body: { ...subscription('http://127.0.0.1:9/'), delivery },
    },
    expect: { status: 400, code: 'HERALD_INVALID_REQUEST' },
  })),
  ...(
    [
      ['an unknown credential type', { credentialtype: 'REFRESHTOKEN', accesstoken: 'x' }],
      ['an ACCESSTOKEN without a token', { credentialtype: 'ACCESSTOKEN' }],
      ['a PLAIN credential without a secret', { credentialtype: 'PLAIN', identity: 'u' }],
      ['a PLAIN identity with a colon', { credentialtype: 'PLAIN', identity: 'u:v', secret: 's' }],
      ['a secretRef outside Kubernetes', { secretRef: { name: 'creds' } }],
    ] as const
  ).map(([name, sinkcredential]) => ({
    name: `POST /subscriptions: ${name}`,
    request: {
      method: 'POST',
      path: '/subscriptions',
      body: { ...subscription('http://127.0.0.1:9/'), sinkcredential },
    },
    expect: { status: 400, code: 'HERALD_INVALID_REQUEST' },
  })),
];

export default cases;
