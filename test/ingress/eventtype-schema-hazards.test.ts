import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';

/**
 * Declared schemas that hurt the broker rather than the publisher: a `pattern` with catastrophic
 * backtracking, and a schema that refers to itself without descending into the data.
 */

async function brokerWith(
  types: unknown[],
  output: string[] = [],
): Promise<{ broker: BrokerProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-schema-hazards-'));
  // JSON is YAML: the file is written as JSON so that patterns keep their backslashes as they are.
  writeFileSync(join(dir, 'types.yaml'), JSON.stringify(types));
  const broker = await startBroker({
    args: ['--event-types-file', join(dir, 'types.yaml')],
    onOutput: (text) => void output.push(text),
  });
  return { broker, dir };
}

const publish = (broker: BrokerProcess, type: string, data: unknown, id = 'e1') =>
  fetch(`${broker.url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0',
      id,
      source: '/t',
      type,
      datacontenttype: 'application/json',
      data,
    }),
  });

describe('a declared pattern with catastrophic backtracking', () => {
  let broker: BrokerProcess;
  let dir: string;

  beforeAll(async () => {
    ({ broker, dir } = await brokerWith([
      {
        type: 'com.example.hostile',
        validation: 'enforce',
        schema: { type: 'string', pattern: '^(a+)+$' },
      },
    ]));
  });
  afterAll(async () => {
    // Killed: a broker frozen in a backtracking match would not see SIGTERM for minutes.
    await broker?.stop('SIGKILL');
    if (broker !== undefined) removeDir(broker.dataDir);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the hostile value promptly (400) and the broker goes on answering', async () => {
    // With V8's backtracking engine this value took minutes to test (each extra 'a' doubles it), the
    // event loop frozen all along: this publish and /healthz did not answer within the test's timeout.
    const hostile = `${'a'.repeat(34)}!`;
    const [refused, health, second] = await Promise.all([
      publish(broker, 'com.example.hostile', hostile),
      fetch(`${broker.url}/healthz`),
      publish(broker, 'com.example.hostile', 'aaaa', 'e2'),
    ]);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'HERALD_SCHEMA_VIOLATION', pointer: '/data' });
    expect(health.status).toBe(200);
    // The pattern still means what it meant: a string of a's matches.
    expect(second.status).toBe(202);
  }, 20_000);
});

describe('a declared schema that refers to itself without descending into the data', () => {
  let broker: BrokerProcess;
  let dir: string;
  const output: string[] = [];
  const recursive = {
    'com.example.ref': { $ref: '#' },
    'com.example.allof': { allOf: [{ $ref: '#' }] },
    'com.example.not': { not: { $ref: '#' } },
  };

  beforeAll(async () => {
    ({ broker, dir } = await brokerWith(
      [
        ...Object.entries(recursive).map(([type, schema]) => ({ type, validation: 'enforce', schema })),
        {
          // Recursive only for objects with a `loop` (no probe at declaration has one): the publisher
          // chooses whether it recurses.
          type: 'com.example.sometimes',
          validation: 'enforce',
          schema: { if: { type: 'object', required: ['loop'] }, then: { $ref: '#' } },
        },
      ],
      output,
    ));
  });
  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('is not enforced (logged once with the type, counted): its events are accepted, not a retryable 500', async () => {
    // Before, every publish of these types overflowed the stack and answered 500 HERALD_INTERNAL,
    // which clients retry for ever.
    for (const type of Object.keys(recursive)) {
      for (const [i, data] of [{ a: 1 }, 'x', 3].entries()) {
        const answer = await publish(broker, type, data, `${type}-${i}`);
        expect(answer.status, `${type} ${JSON.stringify(data)}: ${await answer.text()}`).toBe(202);
      }
      const warned = output
        .join('')
        .split('\n')
        .filter((line) => line.includes(type) && line.includes('refers to itself'));
      expect(warned, type).toHaveLength(1);
    }
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    expect(metrics).toContain('herald_event_type_schema_errors_total{reason="recursive"} 3');
  });

  it('refuses (400, not retryable) the data a schema recursing only for some data cannot evaluate, and keeps enforcing', async () => {
    // Turning the schema off here would let any publisher switch enforcement off by sending such data.
    const string = await publish(broker, 'com.example.sometimes', 'fine', 's1');
    expect(string.status).toBe(202);
    for (const id of ['s2', 's3']) {
      const answer = await publish(broker, 'com.example.sometimes', { loop: true }, id);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ code: 'HERALD_SCHEMA_VIOLATION', pointer: '/data' });
    }
    expect((await publish(broker, 'com.example.sometimes', { other: 1 }, 's4')).status).toBe(202);
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    expect(metrics).toContain('herald_event_type_schema_errors_total{reason="overflow"} 2');
    const warned = output
      .join('')
      .split('\n')
      .filter((line) => line.includes('com.example.sometimes') && line.includes('refers to itself'));
    expect(warned).toHaveLength(1);
  });
});
