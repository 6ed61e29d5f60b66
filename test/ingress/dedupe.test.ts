// Acceptance: a duplicate (source, id) within the dedupe window is acknowledged and stored once; after
// the window it is stored again; the same id from another source is a different event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, readLog, send, sleep } from '../support/http.js';
import { embeddedBroker } from '../delivery/scenarios/factory.js';
import { describeDuplicateScenarios } from '../delivery/scenarios/duplicates.js';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ['--dedupe-window', '3s'] });
});

afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

async function publish(id: string, source: string, subject: string): Promise<void> {
  const response = await send(broker.url, {
    headers: binaryHeaders(id, { 'ce-source': source, 'ce-subject': subject }),
  });
  expect(response.status).toBe(202);
}

const stored = async () =>
  (await readLog(broker.adminUrl)).map((e) => [e.event['source'], e.event['id'], e.event['subject']]);

describe('dedupe window', () => {
  it('stores a duplicate once within the window, again after it, and a different source always', async () => {
    await publish('order-1', '/shop/a', 'first');
    await publish('order-1', '/shop/a', 'resent');
    await publish('order-1', '/shop/b', 'other source');
    expect(await stored()).toEqual([
      ['/shop/a', 'order-1', 'first'],
      ['/shop/b', 'order-1', 'other source'],
    ]);

    await sleep(3_500);
    await publish('order-1', '/shop/a', 'after the window');
    expect(await stored()).toEqual([
      ['/shop/a', 'order-1', 'first'],
      ['/shop/b', 'order-1', 'other source'],
      ['/shop/a', 'order-1', 'after the window'],
    ]);
  });

  it('stores a duplicate inside one batch once, acknowledging the whole batch', async () => {
    const event = (subject: string) => ({
      specversion: '1.0',
      id: 'batch-dup',
      source: '/shop/c',
      type: 'dev.herald.test',
      subject,
    });
    const response = await send(broker.url, {
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify([event('one'), event('two')]),
    });
    expect(response.status).toBe(202);
    const copies = (await readLog(broker.adminUrl)).filter((e) => e.event['id'] === 'batch-dup');
    expect(copies.map((e) => e.event['subject'])).toEqual(['one']);
  });
});

describeDuplicateScenarios('embedded', embeddedBroker);
