// Acceptance (#10 point 5): sinkcredential is sent on delivery (ACCESSTOKEN → Bearer, PLAIN →
// Basic) and, like sensitive protocolsettings.headers, is write-only: never in GET answers, logs or
// /metrics; with --secret-key-file the store holds it encrypted.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { publish, requestJson, subscribe } from '../harness/client.js';

const SECRETS = ['tok-SECRET-one', 'key-SECRET-two', 'c=SECRET-three', 'pw-SECRET-four'];

/** Everything the broker wrote to its data directory, as one buffer. */
function storeBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    parts.push(statSync(file).isDirectory() ? storeBytes(file) : readFileSync(file));
  }
  return Buffer.concat(parts);
}

function capture(broker: BrokerProcess): { text: () => string } {
  const chunks: string[] = [];
  broker.child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  broker.child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  return { text: () => chunks.join('') };
}

async function createWithSecrets(broker: BrokerProcess, sink: SinkProcess): Promise<string[]> {
  const bearer = await subscribe(broker.url, {
    sink: `${sink.url}/bearer`,
    types: ['com.example.secret'],
    sinkcredential: { credentialtype: 'ACCESSTOKEN', accesstoken: SECRETS[0] },
    protocolsettings: { headers: { 'X-Api-Key': SECRETS[1], Cookie: SECRETS[2], 'x-team': 'blue' } },
  });
  const basic = await subscribe(broker.url, {
    sink: `${sink.url}/basic`,
    types: ['com.example.secret'],
    sinkcredential: { credentialtype: 'PLAIN', identity: 'svc', secret: SECRETS[3] },
  });
  return [bearer.id, basic.id];
}

describe('sink credentials', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('are sent to the sink, never shown, logged or exported, and sealed at rest with a key', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'herald-key-'));
    const keyFile = path.join(keyDir, 'secret.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
    const args = ['--secret-key-file', keyFile, '--sensitive-headers', 'x-api-key'];
    const sink = await startSink();
    cleanup.push(() => sink.stop());
    let broker = await startBroker({ args, env: { HERALD_LOG_LEVEL: 'trace' } });
    const dataDir = broker.dataDir;
    cleanup.push(async () => removeDir(dataDir));
    let logs = capture(broker);
    const ids = await createWithSecrets(broker, sink);

    await publish(broker.url, { id: 'with-credentials', type: 'com.example.secret' });
    const records = await sink.waitFor((r) => r.length === 2);
    const byPath = Object.fromEntries(records.map((r) => [r.path, r.headers]));
    expect(byPath['/bearer']?.['authorization']).toBe(`Bearer ${SECRETS[0]}`);
    expect(byPath['/bearer']?.['x-api-key']).toBe(SECRETS[1]);
    expect(byPath['/bearer']?.['cookie']).toBe(SECRETS[2]);
    expect(byPath['/basic']?.['authorization']).toBe(
      `Basic ${Buffer.from(`svc:${SECRETS[3]}`).toString('base64')}`,
    );

    const visible = [
      JSON.stringify((await requestJson('GET', `${broker.url}/subscriptions`)).body),
      ...(await Promise.all(
        ids.map(async (id) =>
          JSON.stringify((await requestJson('GET', `${broker.url}/subscriptions/${id}`)).body),
        ),
      )),
      await (await fetch(`${broker.url}/metrics`)).text(),
    ];
    for (const text of visible)
      for (const secret of SECRETS) expect(text).not.toContain(secret.split('-')[1]);
    expect(visible[0]).toContain('"x-team":"blue"');

    // Still delivered with the credential after a restart (the sealed values open with the key).
    await broker.stop();
    for (const secret of SECRETS) expect(logs.text()).not.toContain(secret);
    const atRest = storeBytes(dataDir).toString('latin1');
    for (const secret of SECRETS) expect(atRest).not.toContain(secret);
    expect(atRest).toContain('herald-sealed:v1:');

    broker = await startBroker({ dataDir, args, env: { HERALD_LOG_LEVEL: 'trace' } });
    cleanup.push(() => broker.stop());
    logs = capture(broker);
    await sink.clear();
    await publish(broker.url, { id: 'after-restart', type: 'com.example.secret' });
    const again = await sink.waitFor((r) => r.length === 2);
    expect(again.find((r) => r.path === '/bearer')?.headers['authorization']).toBe(`Bearer ${SECRETS[0]}`);
    for (const secret of SECRETS) expect(logs.text()).not.toContain(secret);
  });

  it('are in the store in plain text without --secret-key-file (as docs/security.md says)', async () => {
    const sink = await startSink();
    const broker = await startBroker();
    cleanup.push(async () => {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(broker.dataDir);
    });
    await createWithSecrets(broker, sink);
    await broker.stop();
    expect(storeBytes(broker.dataDir).toString('latin1')).toContain(SECRETS[0]);
  });

  // A shell variable left unquoted (`"accesstoken": $TOKEN`) makes the body invalid JSON right at the
  // credential. Node's JSON.parse quotes ten characters either side of the error; the problem and the
  // log line of the refusal must quote none of the body.
  it('are not quoted from a malformed body, in the answer or the log', async () => {
    const broker = await startBroker({ env: { HERALD_LOG_LEVEL: 'trace' } });
    cleanup.push(async () => {
      await broker.stop();
      removeDir(broker.dataDir);
    });
    const logs = capture(broker);
    const sink = 'http://127.0.0.1:9/';
    const bodies = [
      `{"sink":"${sink}","protocol":"HTTP","sinkcredential":{"credentialtype":"ACCESSTOKEN","accesstoken":tok-SECRET-five}}`,
      `{"sink":"${sink}","protocol":"HTTP","protocolsettings":{"headers":{"Authorization":Bearer key-SECRET-six}}}`,
    ];
    for (const body of bodies) {
      const response = await fetch(`${broker.url}/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const problem = (await response.json()) as { code: string; detail: string };
      expect(response.status).toBe(400);
      expect(problem.code).toBe('HERALD_MALFORMED_JSON');
      expect(problem.detail).not.toContain('SECRET');
    }
    await broker.stop();
    expect(logs.text()).toContain('HERALD_MALFORMED_JSON');
    expect(logs.text()).not.toContain('SECRET');
  });

  it('refuses to start when stored secrets are sealed and the key is missing', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'herald-key-'));
    const keyFile = path.join(keyDir, 'secret.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
    const sink = await startSink();
    const sealed = await startBroker({ args: ['--secret-key-file', keyFile] });
    cleanup.push(async () => {
      await sink.stop();
      removeDir(sealed.dataDir);
    });
    await createWithSecrets(sealed, sink);
    await sealed.stop();
    await expect(startBroker({ dataDir: sealed.dataDir })).rejects.toThrow(/--secret-key-file/);
  });
});
