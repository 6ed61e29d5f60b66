// Acceptance: a publisher that bends the HTTP framing (content codings, thousands of header lines, a
// byte order mark, megabyte-long names) gets either what it sent stored and delivered as valid
// CloudEvents, or a coded refusal that stores nothing and echoes a bounded amount of its input.
// Every case goes to a real broker process; the delivery case to a real recording sink.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bodyText, startBroker, useBrokerAndSink } from '../harness/processes.js';
import { subscribe } from '../harness/client.js';
import { binaryHeaders, readLog, send } from '../support/http.js';
import type { RawResponse } from '../support/http.js';

const MAX_BATCH_EVENTS = 3;
const context = useBrokerAndSink(() =>
  startBroker({ args: ['--max-batch-events', String(MAX_BATCH_EVENTS)] }),
);

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const BATCH = { 'content-type': 'application/cloudevents-batch+json' };
const event = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id,
  source: '/hostile',
  type: 'dev.herald.test',
  ...extra,
});

async function storedIds(): Promise<string[]> {
  return (await readLog(context.broker.adminUrl)).map((entry) => String(entry.event['id']));
}

/**
 * POSTs an event with exactly these header lines, in this order (node:http's client merges a name set
 * twice), and resolves with the whole answer as text.
 */
function sendLines(baseUrl: string, headers: readonly (readonly [string, string])[]): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  const head = ['POST /events HTTP/1.1', `host: ${hostname}`, 'connection: close', 'content-length: 0'];
  for (const [name, value] of headers) head.push(`${name}: ${value}`);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${head.join('\r\n')}\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

function expectProblem(response: RawResponse, status: number, code: string): void {
  expect(response.status, response.text().slice(0, 500)).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json');
  expect(response.json()).toMatchObject({ status, code });
}

describe('content codings', () => {
  it('refuses a gzip-encoded body with 415 instead of storing the compressed bytes as the data', async () => {
    const json = Buffer.from('{"hello":"world"}');
    const gzipped = await send(context.broker.url, {
      headers: binaryHeaders('gzip-binary', {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      }),
      body: gzipSync(json),
    });
    expectProblem(gzipped, 415, 'HERALD_UNSUPPORTED_ENCODING');
    expect(gzipped.headers['accept-encoding']).toBe('identity');
    const structured = await send(context.broker.url, {
      headers: { 'content-type': 'application/cloudevents+json', 'content-encoding': 'br' },
      body: JSON.stringify(event('br-structured')),
    });
    expectProblem(structured, 415, 'HERALD_UNSUPPORTED_ENCODING');
    // The identity coding is no coding at all: the body is the event.
    const identity = await send(context.broker.url, {
      headers: binaryHeaders('identity-binary', {
        'content-type': 'application/json',
        'content-encoding': 'identity',
      }),
      body: json,
    });
    expect(identity.status, identity.text()).toBe(202);
    const ids = await storedIds();
    expect(ids).toContain('identity-binary');
    expect(ids).not.toContain('gzip-binary');
    expect(ids).not.toContain('br-structured');
  });
});

describe('a request with thousands of header lines', () => {
  // Node keeps the first 2,000 header lines by default and drops the rest without a word; the header
  // bytes (16 KiB) are the bound that must apply instead.
  const filler: Record<string, string> = {};
  for (let i = 0; i < 2000; i++) filler[`x-f${i}`] = '1';

  it('stores an attribute sent after 2,000 other headers, and refuses a late repeated ce-id', async () => {
    const late = await send(context.broker.url, {
      headers: {
        ...binaryHeaders('many-headers'),
        ...filler,
        'ce-subject': 'late',
        'content-type': 'text/plain',
      },
      body: 'hi',
    });
    expect(late.status, late.text()).toBe(202);
    const stored = (await readLog(context.broker.adminUrl)).find((e) => e.event['id'] === 'many-headers');
    expect(stored?.event).toMatchObject({ subject: 'late', datacontenttype: 'text/plain', data: 'hi' });

    // A repeated header must follow the filler: the raw header list keeps the order on the wire.
    const headers: [string, string][] = [
      ...Object.entries(binaryHeaders('many-headers-dup')),
      ...Object.entries(filler),
      ['ce-id', 'other'],
    ];
    const repeated = await sendLines(context.broker.url, headers);
    expect(repeated).toMatch(/^HTTP\/1\.1 400 /);
    expect(repeated).toContain('"code":"HERALD_INVALID_ATTRIBUTE"');
    expect(await storedIds()).not.toContain('many-headers-dup');
  });
});

describe('problems answering over-long input', () => {
  // A batch may be up to --max-request-size (16 MiB); what the answer repeats of it must not grow with it.
  const MB = 1024 * 1024;
  const cases: { name: string; element: Record<string, unknown>; code: string }[] = [
    {
      name: 'an invalid attribute name',
      element: event('long-name', { ['A'.repeat(MB)]: 1 }),
      code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    },
    {
      name: 'an unsupported specversion',
      element: event('long-version', { specversion: 'x'.repeat(MB) }),
      code: 'HERALD_UNSUPPORTED_SPECVERSION',
    },
    {
      name: 'a valid extension name with an invalid value',
      element: event('long-extension', { ['a'.repeat(MB)]: 1.5 }),
      code: 'HERALD_INVALID_ATTRIBUTE',
    },
    {
      name: 'non-string data under a long non-JSON datacontenttype',
      element: event('long-type', { datacontenttype: `text/${'p'.repeat(MB)}`, data: { a: 1 } }),
      code: 'HERALD_INVALID_DATA',
    },
  ];
  for (const { name, element, code } of cases) {
    it(`echoes at most a few hundred bytes of ${name}`, async () => {
      const response = await send(context.broker.url, { headers: BATCH, body: JSON.stringify([element]) });
      expectProblem(response, 400, code);
      expect(response.json()).toMatchObject({ index: 0 });
      expect(response.body.byteLength).toBeLessThan(2048);
    });
  }
});

describe('a UTF-8 byte order mark', () => {
  it('before binary-mode JSON data: a structured delivery of the event is valid JSON with the bytes sent', async () => {
    const { broker, sink } = context;
    await subscribe(broker.adminUrl, {
      sink: `${sink.url}/bom`,
      filters: [{ exact: { type: 'dev.herald.bom' } }],
      delivery: { contentMode: 'structured', retry: 0 },
    });
    const data = Buffer.concat([BOM, Buffer.from('{"a":1}')]);
    const published = await send(broker.url, {
      headers: {
        ...binaryHeaders('bom-data'),
        'ce-type': 'dev.herald.bom',
        'content-type': 'application/json',
      },
      body: data,
    });
    expect(published.status, published.text()).toBe(202);
    const [record] = await sink.waitFor((records) => records.some((r) => r.path === '/bom'));
    const delivered = JSON.parse(bodyText(record!)) as Record<string, unknown>;
    expect(delivered['id']).toBe('bom-data');
    expect(Buffer.from(String(delivered['data_base64']), 'base64')).toEqual(data);
  });

  it('before a batch: counted against --max-batch-events before the body is parsed, as without one', async () => {
    // Three events and the start of a fourth that never ends: the count refuses it before any parse.
    const over = `[${[1, 2, 3].map((n) => JSON.stringify(event(`bom-batch-${n}`))).join(',')},{"specversion":`;
    const plain = await send(context.broker.url, { headers: BATCH, body: over });
    expectProblem(plain, 413, 'HERALD_TOO_MANY_EVENTS');
    const withBom = await send(context.broker.url, {
      headers: BATCH,
      body: Buffer.concat([BOM, Buffer.from(over)]),
    });
    expectProblem(withBom, 413, 'HERALD_TOO_MANY_EVENTS');
    // And a batch within the cap that starts with one is read as the same events.
    const within = `[${[1, 2].map((n) => JSON.stringify(event(`bom-batch-${n}`, { data: { n } }))).join(',')}]`;
    const accepted = await send(context.broker.url, {
      headers: BATCH,
      body: Buffer.concat([BOM, Buffer.from(within)]),
    });
    expect(accepted.status, accepted.text()).toBe(202);
    const stored = (await readLog(context.broker.adminUrl)).filter((e) =>
      String(e.event['id']).startsWith('bom-batch-'),
    );
    expect(stored.map((e) => e.event['data'])).toEqual([{ n: 1 }, { n: 2 }]);
  });
});
