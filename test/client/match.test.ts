// POST /match (architecture §3.6): the dry run answers exactly the subscriptions that delivery then
// reaches — same live compiled filters, same index — for an event in any mode; it stores nothing.
import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { requestJson, subscribe } from '../harness/client.js';
import { readLog } from '../support/http.js';

const env = useBrokerAndSink();

const FILTERS: Record<string, Record<string, unknown>> = {
  exactType: { filters: [{ exact: { type: 'com.example.match.a' } }] },
  types: { types: ['com.example.match.a', 'com.example.match.b'] },
  prefixSource: { filters: [{ prefix: { source: '/match/eu' } }] },
  suffixSubject: { filters: [{ suffix: { subject: '.png' } }] },
  anyTypes: {
    filters: [
      { any: [{ exact: { type: 'com.example.match.b' } }, { exact: { type: 'com.example.match.c' } }] },
    ],
  },
  notType: {
    filters: [{ not: { exact: { type: 'com.example.match.a' } } }, { prefix: { source: '/match' } }],
  },
  sql: { filters: [{ sql: "subject LIKE 'img/%' AND region = 'eu'" }] },
  allOf: {
    source: '/match/eu/1',
    filters: [{ all: [{ exact: { type: 'com.example.match.a' } }, { sql: 'size > 10' }] }],
  },
};

const EVENTS = [
  {
    id: 'e1',
    source: '/match/eu/1',
    type: 'com.example.match.a',
    subject: 'img/x.png',
    region: 'eu',
    size: 42,
  },
  { id: 'e2', source: '/match/us/1', type: 'com.example.match.b', subject: 'doc/y.pdf', region: 'us' },
  { id: 'e3', source: '/match/eu/2', type: 'com.example.match.c', subject: 'img/z.jpg', region: 'eu' },
  { id: 'e4', source: '/match/eu/1', type: 'com.example.match.a', size: 3 },
  { id: 'e5', source: '/elsewhere', type: 'com.example.match.d', subject: 'a.png' },
].map((event) => ({ specversion: '1.0', ...event }));

async function match(
  init: RequestInit,
): Promise<{ status: number; body: { subscriptions?: Array<{ id: string; sink: string }>; code?: string } }> {
  const response = await fetch(`${env.broker.url}/match`, { method: 'POST', ...init });
  return { status: response.status, body: (await response.json()) as never };
}

function binaryInit(event: Record<string, unknown>): RequestInit {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event))
    headers[`ce-${name}`] = encodeURIComponent(String(value));
  return { headers };
}

describe('POST /match', () => {
  it('names the subscriptions delivery reaches, for events in binary, structured and batch mode', async () => {
    const ids: Record<string, string> = {};
    for (const [name, spec] of Object.entries(FILTERS)) {
      ids[name] = (await subscribe(env.broker.url, { sink: env.sink.url, protocol: 'HTTP', ...spec })).id;
    }
    const names = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
    const logBefore = (await readLog(env.broker.url)).length;

    const predicted = new Map<string, string[]>();
    for (const event of EVENTS) {
      const structured = await match({
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
      });
      const binary = await match(binaryInit(event));
      const batch = await match({
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify([event]),
      });
      expect(structured.status).toBe(200);
      expect(binary.body).toEqual(structured.body);
      expect(batch.body).toEqual(structured.body);
      for (const subscription of structured.body.subscriptions!) expect(subscription.sink).toBe(env.sink.url);
      predicted.set(event.id, structured.body.subscriptions!.map((s) => names.get(s.id)!).sort());
    }
    // The dry run stored nothing.
    expect(await readLog(env.broker.url)).toHaveLength(logBefore);
    expect(predicted.get('e1')).toEqual([
      'allOf',
      'exactType',
      'prefixSource',
      'sql',
      'suffixSubject',
      'types',
    ]);
    expect(predicted.get('e5')).toEqual(['suffixSubject']);

    // Now deliver the same events: each subscription receives exactly what /match predicted.
    const response = await fetch(`${env.broker.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify(EVENTS),
    });
    expect(response.status).toBe(202);
    const expected = [...predicted.values()].reduce((sum, list) => sum + list.length, 0);
    await env.sink.waitFor((r) => r.length >= expected);
    // Give a wrongly matched extra delivery the chance to show up before comparing.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const records = await env.sink.received();
    expect(records).toHaveLength(expected);
    const delivered = new Map<string, string[]>();
    for (const record of records) {
      const name = names.get(record.headers['herald-subscription']!)!;
      const id = record.headers['ce-id']!;
      delivered.set(id, [...(delivered.get(id) ?? []), name].sort());
    }
    for (const event of EVENTS)
      expect(delivered.get(event.id) ?? [], event.id).toEqual(predicted.get(event.id));

    // Paused subscriptions still match: they receive the event once resumed.
    await requestJson('POST', `${env.broker.url}/subscriptions/${ids['exactType']}/pause`);
    const paused = await match({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(EVENTS[0]),
    });
    expect(paused.body.subscriptions!.map((s) => s.id)).toContain(ids['exactType']);
    // A deleted one does not.
    await requestJson('DELETE', `${env.broker.url}/subscriptions/${ids['exactType']}`);
    const deleted = await match({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(EVENTS[0]),
    });
    expect(deleted.body.subscriptions!.map((s) => s.id)).not.toContain(ids['exactType']);
  });

  it('refuses a batch of several events, an invalid event and a non-event with coded problems', async () => {
    const two = await match({
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify(EVENTS.slice(0, 2)),
    });
    expect(two.status).toBe(400);
    expect(two.body.code).toBe('HERALD_INVALID_BATCH');
    const invalid = await match({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'x', source: '/s' }),
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('HERALD_MISSING_ATTRIBUTE');
    const none = await match({ headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(none.status).toBe(415);
  });
});
