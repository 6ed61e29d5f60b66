// Acceptance (#18 point 2): the jetstream store authenticates to NATS with a user and password (flags,
// environment or URL), a token, an NKey seed or a credentials file (operator mode), and connects over
// TLS with a private CA and a client certificate. Each against a real nats-server that requires it: the
// broker becomes ready, stores an event and delivers it. With wrong credentials it stays not ready and
// /readyz, the log and herald_store_not_ready name the authorization failure, never the secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, requestJson, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { uniqueBrokerName, waitReady } from './brokers.js';
import { SecurityFixtures, tlsConfig } from './nats-security.js';
import type { Certificates } from './nats-security.js';

const PASSWORD = 'pw-7c1d0e-never-shown';
const TOKEN = 'tok-93af21-never-shown';

interface Readyz {
  status: string;
  store: boolean;
  cause?: string;
  detail?: string;
}

const fixtures = new SecurityFixtures();
const servers: NatsServer[] = [];
const brokers: BrokerProcess[] = [];
let sink: SinkProcess;
let certs: Certificates;

async function nats(config: string): Promise<NatsServer> {
  const server = await startNatsServer({ config });
  servers.push(server);
  return server;
}

/** A jetstream broker; its whole output is kept to check that no secret is ever logged. */
async function broker(
  natsUrl: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<{ broker: BrokerProcess; output: () => string }> {
  const chunks: string[] = [];
  const started = await startBroker({
    args: ['--store', 'jetstream', '--nats-url', natsUrl, '--broker-name', uniqueBrokerName('auth'), ...args],
    env,
    onOutput: (text) => chunks.push(text),
  });
  brokers.push(started);
  return { broker: started, output: () => chunks.join('') };
}

/** Ready, an event stored (read back from the log) and delivered to a subscription. */
async function storesAndDelivers(b: BrokerProcess, label: string): Promise<void> {
  await waitReady(b).catch(async (error: unknown) => {
    const readyz = await requestJson('GET', `${b.adminUrl}/readyz`);
    throw new Error(`${(error as Error).message}; /readyz: ${JSON.stringify(readyz.body)}`);
  });
  const type = `com.example.${label}`;
  await subscribe(b.url, { sink: `${sink.url}/${label}`, types: [type] });
  await publish(b.url, { id: `${label}-1`, type });
  const log = await requestJson<{ events: Array<{ event: { id: string } }> }>(
    'GET',
    `${b.adminUrl}/events?from=1`,
  );
  expect(log.status).toBe(200);
  expect(log.body.events.map((e) => e.event.id)).toContain(`${label}-1`);
  const records = await sink.waitFor((r) => r.some((x) => x.path === `/${label}`));
  expect(records.find((x) => x.path === `/${label}`)?.headers['ce-id']).toBe(`${label}-1`);
}

/** Waits for /readyz to report `cause`, and returns what it said. */
async function notReadyWith(b: BrokerProcess, cause: string): Promise<Readyz> {
  let last: unknown;
  return waitFor(
    `/readyz cause ${cause}`,
    async () => {
      const readyz = await requestJson<Readyz>('GET', `${b.adminUrl}/readyz`);
      last = readyz.body;
      return readyz.status === 503 && readyz.body.cause === cause ? readyz.body : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; last /readyz: ${JSON.stringify(last)}`);
  });
}

beforeAll(async () => {
  certs = fixtures.certificates();
  sink = await startSink();
});

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  for (const b of brokers) removeDir(b.dataDir);
  await Promise.all([...servers.map((s) => s.stop()), sink?.stop()]);
  fixtures.remove();
});

describe('jetstream store: NATS user and password', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await nats(`authorization { user: herald, password: "${PASSWORD}" }`);
  });

  it('--nats-user with HERALD_NATS_PASSWORD: ready, stores and delivers', async () => {
    const { broker: b, output } = await broker(server.url, ['--nats-user', 'herald'], {
      HERALD_NATS_PASSWORD: PASSWORD,
    });
    await storesAndDelivers(b, 'userpass');
    expect(output()).not.toContain(PASSWORD);
  });

  it('nats://user:password@host in --nats-url: ready, stores and delivers', async () => {
    const url = `nats://herald:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
    const { broker: b, output } = await broker(url);
    await storesAndDelivers(b, 'userinfo');
    expect(output()).not.toContain(PASSWORD);
  });

  it('a wrong password: not ready, /readyz, the log and the metric name the authorization failure, not the secret', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const { broker: b, output } = await broker(server.url, ['--nats-user', 'herald'], {
      HERALD_NATS_PASSWORD: wrong,
    });
    const readyz = await notReadyWith(b, 'nats-authorization');
    expect(readyz.store).toBe(false);
    expect(readyz.detail).toMatch(/Authorization Violation/);
    expect(JSON.stringify(readyz)).not.toContain(wrong);
    const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^herald_store_not_ready\{cause="nats-authorization"\} 1$/m);
    expect(metrics).toMatch(/^herald_store_ready 0$/m);
    await waitFor(
      'the log line naming the cause',
      async () => (output().includes('"cause":"nats-authorization"') ? true : undefined),
      { timeoutMs: 10_000 },
    );
    expect(output()).not.toMatch(/not reachable/);
    expect(output()).not.toContain(wrong);
    const refused = await fetch(`${b.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'x', source: '/t', type: 't' }),
    });
    expect(refused.status).toBe(503);
    expect(await refused.text()).not.toContain(wrong);
  });

  it('no credentials at all: not ready with cause nats-authorization', async () => {
    const { broker: b } = await broker(server.url);
    await notReadyWith(b, 'nats-authorization');
  });
});

describe('jetstream store: NATS token', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await nats(`authorization { token: "${TOKEN}" }`);
  });

  it('HERALD_NATS_TOKEN: ready, stores and delivers', async () => {
    const { broker: b, output } = await broker(server.url, [], { HERALD_NATS_TOKEN: TOKEN });
    await storesAndDelivers(b, 'token');
    expect(output()).not.toContain(TOKEN);
  });

  it('nats://token@host in --nats-url: ready', async () => {
    const { broker: b } = await broker(`nats://${TOKEN}@127.0.0.1:${server.port}`);
    await waitReady(b);
  });

  it('a wrong token: not ready with cause nats-authorization, the token in no answer', async () => {
    const { broker: b, output } = await broker(server.url, ['--nats-token', 'not-the-token']);
    const readyz = await notReadyWith(b, 'nats-authorization');
    expect(JSON.stringify(readyz)).not.toContain('not-the-token');
    expect(output()).not.toContain('not-the-token');
  });
});

describe('jetstream store: NKey', () => {
  it('--nats-nkey-seed-file: ready, stores and delivers; another seed is refused', async () => {
    const admitted = fixtures.nkeyUser();
    const server = await nats(admitted.config);
    const { broker: b } = await broker(server.url, ['--nats-nkey-seed-file', admitted.seedFile]);
    await storesAndDelivers(b, 'nkey');
    const other = fixtures.nkeyUser();
    const { broker: refused } = await broker(server.url, ['--nats-nkey-seed-file', other.seedFile]);
    await notReadyWith(refused, 'nats-authorization');
  });
});

describe('jetstream store: credentials file (operator mode)', () => {
  it('--nats-creds-file: ready, stores and delivers; an untrusted user is refused', async () => {
    const mode = await fixtures.operatorMode();
    const server = await nats(mode.config);
    const { broker: b } = await broker(server.url, ['--nats-creds-file', mode.credsFile]);
    await storesAndDelivers(b, 'creds');
    const { broker: refused } = await broker(server.url, ['--nats-creds-file', mode.strangerCredsFile]);
    await notReadyWith(refused, 'nats-authorization');
  });
});

describe('jetstream store: TLS', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await nats(tlsConfig(certs));
  });

  it('tls:// with --nats-ca and a client certificate: ready, stores and delivers', async () => {
    const { broker: b } = await broker(`tls://127.0.0.1:${server.port}`, [
      '--nats-ca',
      certs.ca,
      '--nats-cert',
      certs.clientCert,
      '--nats-key',
      certs.clientKey,
    ]);
    await storesAndDelivers(b, 'tls');
  });

  it('a CA that did not sign the server certificate: not ready with cause nats-tls', async () => {
    const { broker: b } = await broker(`tls://127.0.0.1:${server.port}`, [
      '--nats-ca',
      certs.otherCa,
      '--nats-cert',
      certs.clientCert,
      '--nats-key',
      certs.clientKey,
    ]);
    const readyz = await notReadyWith(b, 'nats-tls');
    expect(readyz.detail).toMatch(/certificate/i);
  });

  it('no client certificate where the server requires one: not ready, the detail points at --nats-cert', async () => {
    // TLS 1.3: the server drops the connection after the handshake, so the client sees no answer.
    const { broker: b } = await broker(`tls://127.0.0.1:${server.port}`, ['--nats-ca', certs.ca]);
    const readyz = await notReadyWith(b, 'nats-unreachable');
    expect(readyz.detail).toMatch(/requires a client certificate.*--nats-cert/);
  });
});
