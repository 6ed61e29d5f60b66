import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { publishBatch, requestJson } from '../harness/client.js';

/** The `--event-types-file` example of docs/event-types.md, as written there. */
const DOC = readFileSync(new URL('../../docs/event-types.md', import.meta.url), 'utf8');
const DECLARED = /```yaml\n(# types\.yaml[\s\S]*?)```/.exec(DOC)?.[1] ?? '';

describe('event types on a standalone broker (--event-types-file)', () => {
  let broker: BrokerProcess;
  let dir: string;

  beforeAll(async () => {
    expect(DECLARED).toContain('validation: enforce');
    dir = mkdtempSync(join(tmpdir(), 'herald-declared-'));
    writeFileSync(join(dir, 'types.yaml'), DECLARED);
    broker = await startBroker({ args: ['--event-types-file', join(dir, 'types.yaml')] });
  });
  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: unknown, contentType = 'application/cloudevents+json') =>
    fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: JSON.stringify(body),
    });
  const order = (id: string, data: unknown) => ({
    specversion: '1.0',
    id,
    source: '/shop',
    type: 'com.example.order.created',
    datacontenttype: 'application/json',
    data,
  });

  it('rejects data that violates an enforced schema with 400 HERALD_SCHEMA_VIOLATION and stores nothing', async () => {
    const bad = await post(order('o1', { orderId: 'a', total: -5 }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await bad.json()).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
      pointer: '/data/total',
      title: 'Data violates the type schema',
      detail:
        "data at /total must be >= 0 (schema of type 'com.example.order.created', #/properties/total/minimum)",
    });

    const batch = await post(
      [order('o2', { orderId: 'b', total: 1 }), order('o3', { total: 1 })],
      'application/cloudevents-batch+json',
    );
    expect(batch.status).toBe(400);
    expect(await batch.json()).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
      pointer: '/1/data',
      index: 1,
    });

    const log = await requestJson<{ events: unknown[] }>('GET', `${broker.url}/events?from=1`);
    expect(log.body.events).toHaveLength(0);

    expect((await post(order('o4', { orderId: 'c', total: 10 }))).status).toBe(202);
  });

  it('GET /eventtypes lists seen and declared types in the §11 shape', async () => {
    await publishBatch(broker.url, [
      { id: 'n1', type: 'com.example.order.note', source: '/shop' },
      { id: 'n2', type: 'com.example.order.note', source: '/shop' },
      { id: 'u1', type: 'com.example.undeclared', source: '/elsewhere' },
    ]);
    const listed = await requestJson<{ eventTypes: Array<Record<string, unknown>> }>(
      'GET',
      `${broker.url}/eventtypes`,
    );
    expect(listed.status).toBe(200);
    const byType = (type: string) => listed.body.eventTypes.filter((t) => t['type'] === type);
    expect(byType('com.example.order.note')).toEqual([
      {
        type: 'com.example.order.note',
        source: '/shop',
        description: 'Free-form notes (documented, not enforced).',
        firstSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        lastSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        count: 2,
      },
    ]);
    // The answer matches the OpenAPI document's schema for it.
    const openapi = (
      await requestJson<{ components: { schemas: Record<string, unknown> } }>(
        'GET',
        `${broker.url}/openapi.json`,
      )
    ).body;
    const validate = new Ajv2020({ strict: false })
      .addSchema({ $id: 'openapi', components: openapi.components })
      .compile({ $ref: 'openapi#/components/schemas/EventTypeList' });
    expect(validate(listed.body), JSON.stringify(validate.errors)).toBe(true);
    expect(byType('com.example.undeclared')).toEqual([
      expect.objectContaining({ source: '/elsewhere', count: 1 }),
    ]);
    // The declaration for every source, listed once with its totals, and the seen pair it governs.
    expect(byType('com.example.order.created')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: '/shop', validation: 'enforce', count: 1 }),
        expect.objectContaining({
          description: 'An order was placed in the web shop.',
          schema: expect.any(Object),
          count: 1,
        }),
      ]),
    );
  });

  it('an invalid --event-types-file stops the broker at start-up', async () => {
    writeFileSync(join(dir, 'bad.yaml'), '- type: x\n  validation: sometimes\n');
    await expect(startBroker({ args: ['--event-types-file', join(dir, 'bad.yaml')] })).rejects.toThrow(
      /event-types-file.*validation/,
    );
  });
});
