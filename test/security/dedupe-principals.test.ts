// The security review's reproduction: with `--auth tokens`, one principal publishing a (source, id)
// first must not make another principal's event with the same pair a silent duplicate (stored never,
// delivered never). The dedupe key is (source, id) per publishing principal, across a restart too.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { freePort } from '../infra/process.js';
import { metricValue, readLog, send } from '../support/http.js';
import { tokensFile } from './fixtures.js';

const TOKENS = {
  alice: 'alice-token-0123456789abcdef',
  pub: 'pub-token-0123456789abcdef',
  ops: 'ops-token-0123456789abcdef',
};
const POLICY = `rules:
  - principals: [alice]
    actions: [publish]
    filter: "type LIKE 'com.alice.%'"
  - principals: [pub]
    actions: [publish]
    filter: "type LIKE 'com.pub.%'"
  - principals: [ops]
    actions: [admin]
`;

let dir: string;
let broker: BrokerProcess;
let args: string[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'herald-dedupe-principals-'));
  writeFileSync(path.join(dir, 'tokens.yaml'), tokensFile(TOKENS));
  writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
  args = [
    '--admin-port',
    String(await freePort()),
    '--auth',
    'tokens',
    '--auth-tokens',
    path.join(dir, 'tokens.yaml'),
    '--policy',
    path.join(dir, 'policy.yaml'),
  ];
  broker = await startBroker({ args });
});
afterAll(async () => {
  await broker?.stop();
  if (broker !== undefined) removeDir(broker.dataDir);
  if (dir !== undefined) removeDir(dir);
});

const bearer = (principal: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[principal]}` });

const publish = (principal: 'alice' | 'pub', type: string) =>
  send(broker.url, {
    path: '/events',
    headers: { 'content-type': 'application/cloudevents+json', ...bearer(principal) },
    body: JSON.stringify({ specversion: '1.0', id: 'order-1001', source: '/pub/orders', type }),
  });

const storedTypes = async () =>
  (await readLog(broker.adminUrl, bearer('ops'))).map((entry) => entry.event['type']);

const duplicates = async () => {
  const metrics = await send(broker.adminUrl, { method: 'GET', path: '/metrics', headers: bearer('ops') });
  return metricValue(metrics.text(), 'herald_events_duplicate_total') ?? 0;
};

describe('dedupe per publishing principal', () => {
  it("stores another principal's event with a (source, id) a squatter published first", async () => {
    expect((await publish('alice', 'com.alice.squat')).status).toBe(202);
    expect((await publish('pub', 'com.pub.order.created')).status).toBe(202);
    expect(await storedTypes()).toEqual(['com.alice.squat', 'com.pub.order.created']);
    // The same principal sending its event again is still a duplicate, stored once.
    expect((await publish('pub', 'com.pub.order.created')).status).toBe(202);
    expect(await storedTypes()).toEqual(['com.alice.squat', 'com.pub.order.created']);
    expect(await duplicates()).toBe(1);
  });

  it('keeps deduplicating each principal on its own after a restart', async () => {
    await broker.stop();
    broker = await startBroker({ args, dataDir: broker.dataDir });
    expect((await publish('pub', 'com.pub.order.created')).status).toBe(202);
    expect((await publish('alice', 'com.alice.squat')).status).toBe(202);
    expect(await storedTypes()).toEqual(['com.alice.squat', 'com.pub.order.created']);
    expect(await duplicates()).toBe(2);
  });
});
