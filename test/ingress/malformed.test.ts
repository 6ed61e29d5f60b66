// Acceptance: malformed input gets a precise, coded application/problem+json error and changes nothing.
// Every case goes to a real broker process; the log is compared before and after the whole table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, getLogPage, readLog, send } from '../support/http.js';
import type { LogPage, RawRequest } from '../support/http.js';

let broker: BrokerProcess;
let before: LogPage;

const MAX_EVENT = 64 * 1024;
const MAX_REQUEST = 256 * 1024;

beforeAll(async () => {
  broker = await startBroker({
    args: ['--max-event-size', String(MAX_EVENT), '--max-request-size', String(MAX_REQUEST)],
  });
  const seed = await send(broker.url, { headers: binaryHeaders('seed') });
  expect(seed.status).toBe(202);
  before = await getLogPage(broker.adminUrl);
  expect(before.events).toHaveLength(1);
});

afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

const STRUCTURED = { 'content-type': 'application/cloudevents+json' };
const BATCH = { 'content-type': 'application/cloudevents-batch+json' };
const valid = { specversion: '1.0', id: 'bad-1', source: '/herald/tests', type: 'dev.herald.test' };

/** A structured request for `valid` with `override` applied (undefined members removed). */
function structured(override: Record<string, unknown>): RawRequest {
  return { headers: STRUCTURED, body: JSON.stringify({ ...valid, ...override }) };
}

/** A binary request whose required headers are changed by `override` (undefined removes one). */
function binary(override: Record<string, string | readonly string[] | undefined>, body?: string): RawRequest {
  const headers: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries({ ...binaryHeaders('bad-1'), ...override })) {
    if (value !== undefined) headers[name] = value;
  }
  return { headers, ...(body === undefined ? {} : { body }) };
}

const big = 'x'.repeat(100 * 1024);

interface Case {
  readonly name: string;
  readonly request: RawRequest;
  readonly status: number;
  readonly code: string;
  readonly attribute?: string;
  readonly index?: number;
  /** The `Allow` header of a 405. */
  readonly allow?: string;
}

const cases: Case[] = [
  // Binary mode: required attributes and specversion.
  {
    name: 'binary: missing ce-specversion',
    request: binary({ 'ce-specversion': undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'specversion',
  },
  {
    name: 'binary: missing ce-id',
    request: binary({ 'ce-id': undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'binary: missing ce-source',
    request: binary({ 'ce-source': undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'source',
  },
  {
    name: 'binary: missing ce-type',
    request: binary({ 'ce-type': undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'type',
  },
  {
    name: 'binary: specversion 0.3',
    request: binary({ 'ce-specversion': '0.3' }),
    status: 400,
    code: 'HERALD_UNSUPPORTED_SPECVERSION',
    attribute: 'specversion',
  },
  // Binary mode: attribute values.
  {
    name: 'binary: empty ce-id',
    request: binary({ 'ce-id': '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'binary: empty ce-type',
    request: binary({ 'ce-type': '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'type',
  },
  {
    name: 'binary: empty ce-subject',
    request: binary({ 'ce-subject': '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'subject',
  },
  {
    name: 'binary: ce-time lunchtime',
    request: binary({ 'ce-time': 'lunchtime' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'binary: source with an encoded space',
    request: binary({ 'ce-source': 'a%20b' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'source',
  },
  {
    name: 'binary: relative ce-dataschema',
    request: binary({ 'ce-dataschema': '/schema' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'dataschema',
  },
  {
    name: 'binary: Content-Type xyz',
    request: binary({ 'content-type': 'xyz' }, 'body'),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'datacontenttype',
  },
  {
    name: 'binary: punctuated extension name',
    request: binary({ 'ce-my.extension': 'x' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    attribute: 'my.extension',
  },
  {
    name: 'binary: underscored extension name',
    request: binary({ 'ce-my_ext': 'x' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    attribute: 'my_ext',
  },
  {
    name: 'binary: ce-__proto__ header',
    request: binary({ 'ce-__proto__': 'x' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    attribute: '__proto__',
  },
  {
    name: 'binary: percent-encoded NUL',
    request: binary({ 'ce-subject': 'a%00b' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'subject',
  },
  {
    name: 'binary: percent-encoded lone surrogate in an extension',
    request: binary({ 'ce-ext': '%ED%B0%80' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'ext',
  },
  // Binary mode: header encoding.
  {
    name: 'binary: lone %',
    request: binary({ 'ce-subject': '100%' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: %g0',
    request: binary({ 'ce-subject': '%g0' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: overlong %C0%A0',
    request: binary({ 'ce-subject': '%C0%A0' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: truncated %E2%82',
    request: binary({ 'ce-subject': 'Euro %E2%82' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: surrogate %ED%A0%80',
    request: binary({ 'ce-subject': '%ED%A0%80' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: raw byte 0xFF',
    request: binary({ 'ce-subject': 'caf\u00ff' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: unterminated quoted value',
    request: binary({ 'ce-subject': '"unterminated' }),
    status: 400,
    code: 'HERALD_INVALID_HEADER_ENCODING',
    attribute: 'subject',
  },
  {
    name: 'binary: duplicate ce-id',
    request: binary({ 'ce-id': ['one', 'two'] }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'binary: ce-datacontenttype header',
    request: binary({ 'content-type': 'text/plain', 'ce-datacontenttype': 'text/plain' }, 'x'),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'datacontenttype',
  },
  // Structured mode: required attributes and specversion.
  {
    name: 'structured: missing specversion',
    request: structured({ specversion: undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'specversion',
  },
  {
    name: 'structured: missing id',
    request: structured({ id: undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: missing source',
    request: structured({ source: undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'source',
  },
  {
    name: 'structured: missing type',
    request: structured({ type: undefined }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'type',
  },
  {
    name: 'structured: null id',
    request: structured({ id: null }),
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: specversion 0.9',
    request: structured({ specversion: '0.9' }),
    status: 400,
    code: 'HERALD_UNSUPPORTED_SPECVERSION',
    attribute: 'specversion',
  },
  {
    name: 'structured: empty specversion',
    request: structured({ specversion: '' }),
    status: 400,
    code: 'HERALD_UNSUPPORTED_SPECVERSION',
    attribute: 'specversion',
  },
  // Structured mode: empty values.
  {
    name: 'structured: empty id',
    request: structured({ id: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: empty type',
    request: structured({ type: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'type',
  },
  {
    name: 'structured: empty source',
    request: structured({ source: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'source',
  },
  {
    name: 'structured: empty subject',
    request: structured({ subject: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'subject',
  },
  {
    name: 'structured: empty datacontenttype',
    request: structured({ datacontenttype: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'datacontenttype',
  },
  {
    name: 'structured: empty dataschema',
    request: structured({ dataschema: '' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'dataschema',
  },
  // Structured mode: times (the JSON conformance list).
  {
    name: 'structured: time lunchtime',
    request: structured({ time: 'lunchtime' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time without seconds',
    request: structured({ time: '2018-04-05T18:31Z' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time 18:31Z',
    request: structured({ time: '18:31Z' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time offset X',
    request: structured({ time: '2018-04-05T17:31:00X' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time offset +25:00',
    request: structured({ time: '2018-04-05T17:31:00+25:00' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time offset +xx:00',
    request: structured({ time: '2018-04-05T17:31:00+xx:00' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time offset +05',
    request: structured({ time: '2018-04-05T17:31:00+05' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time month 13',
    request: structured({ time: '2018-13-05T17:31:00Z' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  {
    name: 'structured: time February 30',
    request: structured({ time: '2018-02-30T17:31:00Z' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
  },
  // Structured mode: other attribute rules.
  {
    name: 'structured: datacontenttype xyz',
    request: structured({ datacontenttype: 'xyz' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'datacontenttype',
  },
  {
    name: 'structured: relative dataschema',
    request: structured({ dataschema: '/schema.json' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'dataschema',
  },
  {
    name: 'structured: source with a space',
    request: structured({ source: 'not a uri' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'source',
  },
  {
    name: 'structured: numeric id',
    request: structured({ id: 1 }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: object id',
    request: structured({ id: { a: 1 } }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: uppercase extension name',
    request: structured({ MyExtension: 'x' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    attribute: 'MyExtension',
  },
  {
    name: 'structured: punctuated extension name',
    request: structured({ 'my.extension': 'x' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE_NAME',
    attribute: 'my.extension',
  },
  {
    name: 'structured: extension 1.5',
    request: structured({ ext: 1.5 }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'ext',
  },
  {
    name: 'structured: extension 2147483648',
    request: structured({ ext: 2147483648 }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'ext',
  },
  {
    name: 'structured: extension object',
    request: structured({ ext: { a: 1 } }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'ext',
  },
  {
    name: 'structured: extension array',
    request: structured({ ext: [1, 2] }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'ext',
  },
  {
    name: 'structured: extension constructor 1.5',
    request: structured({ constructor: 1.5 }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'constructor',
  },
  {
    name: 'structured: required attribute hidden in __proto__',
    request: {
      headers: STRUCTURED,
      body: '{"specversion":"1.0","source":"/s","type":"t","__proto__":{"id":"hidden"}}',
    },
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'id',
  },
  {
    name: 'structured: control character \\u0001',
    request: structured({ subject: 'a\u0001b' }),
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'subject',
  },
  {
    name: 'structured: lone surrogate',
    request: { headers: STRUCTURED, body: JSON.stringify(valid).replace('"bad-1"', '"bad-\\ud800"') },
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'id',
  },
  // Structured mode: data.
  {
    name: 'structured: data and data_base64',
    request: structured({ data: 'x', data_base64: 'eA==' }),
    status: 400,
    code: 'HERALD_INVALID_DATA',
  },
  {
    name: 'structured: invalid base64',
    request: structured({ data_base64: 'not base64!' }),
    status: 400,
    code: 'HERALD_INVALID_DATA',
  },
  {
    name: 'structured: object data with text/plain',
    request: structured({ datacontenttype: 'text/plain', data: { a: 1 } }),
    status: 400,
    code: 'HERALD_INVALID_DATA',
  },
  // Structured mode: body.
  {
    name: 'structured: truncated JSON',
    request: { headers: STRUCTURED, body: '{"specversion":"1.0","id":"x"' },
    status: 400,
    code: 'HERALD_MALFORMED_JSON',
  },
  {
    name: 'structured: empty body',
    request: { headers: STRUCTURED, body: '' },
    status: 400,
    code: 'HERALD_MALFORMED_JSON',
  },
  {
    name: 'structured: non-UTF-8 body',
    request: {
      headers: STRUCTURED,
      body: Buffer.concat([
        Buffer.from('{"specversion":"1.0","id":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('","source":"/s","type":"t"}'),
      ]),
    },
    status: 400,
    code: 'HERALD_MALFORMED_JSON',
  },
  {
    name: 'structured: JSON array',
    request: { headers: STRUCTURED, body: JSON.stringify([valid]) },
    status: 400,
    code: 'HERALD_INVALID_EVENT',
  },
  // Batch mode.
  {
    name: 'batch: not an array',
    request: { headers: BATCH, body: JSON.stringify(valid) },
    status: 400,
    code: 'HERALD_INVALID_BATCH',
  },
  {
    name: 'batch: second event missing id',
    request: { headers: BATCH, body: JSON.stringify([valid, { ...valid, id: undefined }]) },
    status: 400,
    code: 'HERALD_MISSING_ATTRIBUTE',
    attribute: 'id',
    index: 1,
  },
  {
    name: 'batch: third event with a bad time',
    request: {
      headers: BATCH,
      body: JSON.stringify([valid, { ...valid, id: 'bad-2' }, { ...valid, id: 'bad-3', time: 'noon' }]),
    },
    status: 400,
    code: 'HERALD_INVALID_ATTRIBUTE',
    attribute: 'time',
    index: 2,
  },
  {
    name: 'batch: element not an object',
    request: { headers: BATCH, body: JSON.stringify([valid, 'event']) },
    status: 400,
    code: 'HERALD_INVALID_EVENT',
    index: 1,
  },
  {
    name: 'batch: mixed specversions',
    request: { headers: BATCH, body: JSON.stringify([valid, { ...valid, id: 'bad-2', specversion: '0.3' }]) },
    status: 400,
    code: 'HERALD_UNSUPPORTED_SPECVERSION',
    attribute: 'specversion',
    index: 1,
  },
  {
    name: 'batch: truncated JSON',
    request: { headers: BATCH, body: `[${JSON.stringify(valid)}` },
    status: 400,
    code: 'HERALD_MALFORMED_JSON',
  },
  // Media types.
  {
    name: 'text/plain without ce- headers',
    request: { headers: { 'content-type': 'text/plain' }, body: 'hello' },
    status: 415,
    code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'application/json without ce- headers',
    request: { headers: { 'content-type': 'application/json' }, body: JSON.stringify(valid) },
    status: 415,
    code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'no content type and no ce- headers',
    request: { body: JSON.stringify(valid) },
    status: 415,
    code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'application/cloudevents+xml',
    request: { headers: { 'content-type': 'application/cloudevents+xml' }, body: '<event/>' },
    status: 415,
    code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'application/cloudevents-batch+xml',
    request: { headers: { 'content-type': 'application/cloudevents-batch+xml' }, body: '<events/>' },
    status: 415,
    code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
  },
  // Sizes (--max-event-size 64KiB, --max-request-size 256KiB).
  {
    name: 'oversized binary event',
    request: binary({ 'content-type': 'text/plain' }, big),
    status: 413,
    code: 'HERALD_PAYLOAD_TOO_LARGE',
    index: 0,
  },
  {
    name: 'oversized structured event',
    request: structured({ data: big }),
    status: 413,
    code: 'HERALD_PAYLOAD_TOO_LARGE',
    index: 0,
  },
  {
    name: 'oversized second event of a batch',
    request: { headers: BATCH, body: JSON.stringify([valid, { ...valid, id: 'bad-2', data: big }]) },
    status: 413,
    code: 'HERALD_PAYLOAD_TOO_LARGE',
    index: 1,
  },
  {
    name: 'oversized body with Content-Length',
    request: binary({ 'content-type': 'text/plain' }, 'y'.repeat(MAX_REQUEST + 1)),
    status: 413,
    code: 'HERALD_PAYLOAD_TOO_LARGE',
  },
  {
    name: 'oversized body, chunked without Content-Length',
    request: { ...binary({ 'content-type': 'text/plain' }, 'z'.repeat(4 * MAX_REQUEST)), chunked: true },
    status: 413,
    code: 'HERALD_PAYLOAD_TOO_LARGE',
  },
  // The log read API.
  {
    name: 'GET /events?from=-1',
    request: { method: 'GET', path: '/events?from=-1' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events?limit=0',
    request: { method: 'GET', path: '/events?limit=0' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events?limit=abc',
    request: { method: 'GET', path: '/events?limit=abc' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events?limit=1001',
    request: { method: 'GET', path: '/events?limit=1001' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events?from=1.5',
    request: { method: 'GET', path: '/events?from=1.5' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events/stream?from=x',
    request: { method: 'GET', path: '/events/stream?from=x' },
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'GET /events?filter=<invalid CESQL>',
    request: { method: 'GET', path: `/events?filter=${encodeURIComponent('type = ')}` },
    status: 400,
    code: 'HERALD_INVALID_FILTER',
  },
  // Routing.
  {
    name: 'unknown route',
    request: { method: 'GET', path: '/nowhere' },
    status: 404,
    code: 'HERALD_NOT_FOUND',
  },
  {
    name: 'POST to an unknown route',
    request: { path: '/events/nowhere', headers: binaryHeaders('bad-1') },
    status: 404,
    code: 'HERALD_NOT_FOUND',
  },
  {
    name: 'PUT /events',
    request: { method: 'PUT', path: '/events', headers: binaryHeaders('bad-1') },
    status: 405,
    code: 'HERALD_METHOD_NOT_ALLOWED',
    allow: 'POST, GET',
  },
  {
    name: 'DELETE /',
    request: { method: 'DELETE', path: '/' },
    status: 405,
    code: 'HERALD_METHOD_NOT_ALLOWED',
    allow: 'POST',
  },
  {
    name: 'GET /events/pub',
    request: { method: 'GET', path: '/events/pub' },
    status: 405,
    code: 'HERALD_METHOD_NOT_ALLOWED',
    allow: 'POST',
  },
];

describe('malformed input', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('$name → $status $code', async ({ request, status, code, attribute, index, allow }) => {
    const response = await send(broker.url, request);
    expect(response.status, response.text()).toBe(status);
    expect(response.headers['content-type']).toBe('application/problem+json');
    const problem = response.json();
    expect(problem).toMatchObject({ status, code, type: `https://herald.dev/errors/${code}` });
    expect(typeof problem['title']).toBe('string');
    expect(typeof problem['detail']).toBe('string');
    expect(problem['detail']).not.toBe('');
    expect(problem['attribute']).toBe(attribute);
    expect(problem['index']).toBe(index);
    expect(response.headers['allow']).toBe(allow);
  });

  it('left the log unchanged, and no sequence was used up', async () => {
    const after = await getLogPage(broker.adminUrl);
    expect(after).toEqual(before);
    const ok = await send(broker.url, { headers: binaryHeaders('after-table') });
    expect(ok.status).toBe(202);
    const log = await readLog(broker.adminUrl);
    expect(log.map((entry) => [entry.sequence, entry.event['id']])).toEqual([
      [1, 'seed'],
      [2, 'after-table'],
    ]);
  });
});

describe('an invalid batch', () => {
  it('stores none of its valid events', async () => {
    const first = await getLogPage(broker.adminUrl);
    const response = await send(broker.url, {
      headers: BATCH,
      body: JSON.stringify([
        { ...valid, id: 'atomic-1' },
        { ...valid, id: 'atomic-2' },
        { ...valid, id: 'atomic-3', source: 'has a space' },
        { ...valid, id: 'atomic-4' },
      ]),
    });
    expect(response.status).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'HERALD_INVALID_ATTRIBUTE',
      attribute: 'source',
      index: 2,
      pointer: '/2/source',
    });
    expect(await getLogPage(broker.adminUrl)).toEqual(first);
    // Proof that nothing was kept aside either (e.g. in the dedupe index): the same ids are accepted and stored now.
    const fixed = await send(broker.url, {
      headers: BATCH,
      body: JSON.stringify([1, 2, 3, 4].map((n) => ({ ...valid, id: `atomic-${n}` }))),
    });
    expect(fixed.status).toBe(202);
    const ids = (await readLog(broker.adminUrl)).map((entry) => entry.event['id']);
    expect(ids.filter((id) => String(id).startsWith('atomic-'))).toEqual([
      'atomic-1',
      'atomic-2',
      'atomic-3',
      'atomic-4',
    ]);
  });
});
