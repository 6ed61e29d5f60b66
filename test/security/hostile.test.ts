// Acceptance (#10 "bad input and abuse"): one table of hostile requests against a real broker process.
// Each row must get its precise coded 4xx problem and change nothing: the log, and every subscription
// (definition and status), are the same after the row as before the suite. Rows are data, loaded from
// every file in hostile-cases/ (each exports `cases`), so each area of the trust boundary adds its own.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../harness/processes.js';
import { send } from '../support/http.js';
import {
  algNoneJwt,
  AUDIENCE,
  hmacConfusionJwt,
  ISSUER,
  jwt,
  startSecureBroker,
  tamperedJwt,
  TOKENS,
} from './fixtures.js';
import type { SecureBroker } from './fixtures.js';
import type { HostileCase, HostileContext, StaticHostileCase } from './hostile-types.js';

const casesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile-cases');
const files = readdirSync(casesDir)
  .filter((f) => f.endsWith('.ts'))
  .sort();
/** Routes served on the data port; everything else is on the admin port of the suite's broker. */
const DATA_PORT_PATHS = new Set(['/', '/events/pub']);

function normalise(row: HostileCase | StaticHostileCase): HostileCase {
  if (typeof row.request === 'function') return row as HostileCase;
  const { request, expect: answer } = row as StaticHostileCase;
  const body =
    request.body === undefined || typeof request.body === 'string'
      ? request.body
      : JSON.stringify(request.body);
  const isPublish =
    request.method === 'POST' && (DATA_PORT_PATHS.has(request.path) || request.path === '/events');
  return {
    name: row.name,
    request: (c) => ({
      port: isPublish ? 'data' : 'admin',
      method: request.method,
      path: request.path,
      headers: {
        authorization: `Bearer ${c.tokens.ops}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...request.headers,
      },
      ...(body === undefined ? {} : { body }),
    }),
    status: answer.status,
    code: answer.code,
  };
}

const cases: HostileCase[] = [];
for (const file of files) {
  const module = (await import(pathToFileURL(path.join(casesDir, file)).href)) as {
    cases: ReadonlyArray<HostileCase | StaticHostileCase>;
  };
  cases.push(
    ...module.cases.map((c) => ({ ...normalise(c), name: `${file.replace(/\.ts$/, '')}: ${c.name}` })),
  );
}

let secure: SecureBroker;
let context: HostileContext;
let baseline: string;

const ops = () => ({ authorization: `Bearer ${TOKENS.ops}` });

/** Everything a hostile request could change: the log and every subscription as an admin sees it. */
async function snapshot(): Promise<string> {
  const log = await send(secure.broker.adminUrl, {
    method: 'GET',
    path: '/events?limit=1000',
    headers: ops(),
  });
  const subscriptions = await send(secure.broker.adminUrl, {
    method: 'GET',
    path: '/subscriptions',
    headers: ops(),
  });
  expect(log.status).toBe(200);
  expect(subscriptions.status).toBe(200);
  return JSON.stringify({ log: log.json(), subscriptions: subscriptions.json() });
}

beforeAll(async () => {
  secure = await startSecureBroker();
  const { key, strangerKey, broker } = secure;
  const now = Math.floor(Date.now() / 1000);
  const valid = new Map<string, string>();
  for (const sub of ['alice', 'bob', 'shop']) valid.set(sub, await jwt(key, sub));
  const asBob = { authorization: `Bearer ${TOKENS.bob}`, 'content-type': 'application/json' };
  const created = await send(broker.adminUrl, {
    path: '/subscriptions',
    headers: asBob,
    body: JSON.stringify({ sink: 'http://127.0.0.1:9/bob', protocol: 'HTTP', startAt: 'earliest' }),
  });
  const seeded = await send(broker.adminUrl, {
    path: '/events/sub',
    headers: asBob,
    body: JSON.stringify({ subject: 'bob', subscribers: ['http://127.0.0.1:9/bob-seed'] }),
  });
  expect(created.status).toBe(201);
  expect(seeded.status).toBe(201);
  context = {
    dataUrl: broker.url,
    adminUrl: broker.adminUrl,
    tokens: TOKENS,
    jwt: {
      valid: (sub) => valid.get(sub) ?? '',
      expired: await jwt(key, 'alice', { exp: now - 600, iat: now - 4_000 }),
      notYetValid: await jwt(key, 'alice', { nbf: now + 600 }),
      wrongIssuer: await jwt(key, 'alice', { iss: `${ISSUER}.evil` }),
      wrongAudience: await jwt(key, 'alice', { aud: `${AUDIENCE}-other` }),
      algNone: algNoneJwt('ops'),
      hmacConfusion: hmacConfusionJwt(key, 'ops'),
      unknownKey: await jwt(strangerKey, 'ops'),
      tampered: await tamperedJwt(key, 'alice', 'ops'),
      noSubject: await jwt(key, '', {}),
    },
    bobSubscription: created.json<{ id: string }>().id,
    bobSeedGroup: seeded.json<{ id: string }>().id,
  };
  baseline = await snapshot();
});

afterAll(async () => {
  await secure?.broker.stop();
  if (secure !== undefined) {
    removeDir(secure.broker.dataDir);
    removeDir(secure.dir);
  }
});

describe(`hostile inputs (${cases.length} rows from ${files.join(', ')})`, () => {
  it('has at least 150 rows', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
  });

  it.each(cases)('$name', async (row) => {
    const request = row.request(context);
    const response = await send(request.port === 'data' ? context.dataUrl : context.adminUrl, {
      method: request.method,
      path: request.path,
      ...(request.headers === undefined ? {} : { headers: request.headers }),
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    expect(response.status).toBe(row.status);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.json()).toMatchObject({ code: row.code, status: row.status });
    if (row.status === 401) expect(response.headers['www-authenticate']).toBe('Bearer realm="herald"');
    expect(await snapshot()).toBe(baseline);
  });
});
