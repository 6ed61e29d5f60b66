// CloudEvents wire format on both sides of the broker: what a publisher sends in one content mode reaches a
// real sink in another with the same attribute types and values and the same data bytes, and what cannot
// be carried that way (the HTTP binding, the JSON format's Integer) is refused at ingress with a coded
// problem instead of being stored and then failing every delivery or reaching a sink malformed.
import { describe, expect, it } from 'vitest';
import { bodyText, useBrokerAndSink } from '../harness/processes.js';
import type { SinkRecord } from '../harness/processes.js';
import { subscribe } from '../harness/client.js';
import { binaryHeaders, send } from '../support/http.js';
import { HTTP } from 'cloudevents';

const ctx = useBrokerAndSink();

const base = (id: string, type: string) => ({ specversion: '1.0', id, source: '/wire', type });

async function publishStructured(text: string) {
  return send(ctx.broker.url, {
    headers: { 'content-type': 'application/cloudevents+json' },
    body: text,
  });
}

/** Subscribes a binary and a structured sink path to `type`. */
async function subscribeBoth(type: string): Promise<void> {
  await subscribe(ctx.broker.url, { sink: `${ctx.sink.url}/${type}/binary`, types: [type] });
  await subscribe(ctx.broker.url, {
    sink: `${ctx.sink.url}/${type}/structured`,
    types: [type],
    delivery: { contentMode: 'structured' },
  });
}

function deliveredTo(records: SinkRecord[], path: string, id: string): SinkRecord | undefined {
  return records.find(
    (r) =>
      r.path === path &&
      (r.headers['ce-id'] === id ||
        (r.headers['content-type'] === 'application/cloudevents+json' &&
          (JSON.parse(bodyText(r)) as { id: string }).id === id)),
  );
}

describe('CloudEvents wire format across content modes', () => {
  it('refuses a datacontenttype that is no RFC 2046 media type in an HTTP header (non-ASCII), which binary delivery could never send', async () => {
    const type = 'wire.contenttype';
    await subscribeBoth(type);
    // A quoted parameter value outside ASCII: RFC 2045/2046 parameter values are ASCII (RFC 2231 spells
    // others `name*=utf-8''%E2%82%AC`), and binary mode writes datacontenttype into Content-Type as it is,
    // where the HTTP client refuses any character above U+00FF — every binary delivery would fail.
    for (const [id, contentType] of [
      ['ct-euro', 'text/plain; name="€"'],
      ['ct-latin1', 'text/plain; name="café"'],
      ['ct-escaped', 'text/plain; name="a\\€"'],
    ] as const) {
      const refused = await publishStructured(
        JSON.stringify({ ...base(id, type), datacontenttype: contentType, data: 'x' }),
      );
      expect(refused.status, `${contentType}: ${refused.text()}`).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'HERALD_INVALID_ATTRIBUTE', pointer: '/datacontenttype' });
    }
    // In binary mode too: a raw non-ASCII byte in Content-Type (Node reads it as latin1 é).
    const binary = await send(ctx.broker.url, {
      headers: binaryHeaders('ct-binary', {
        'ce-type': type,
        'content-type': Buffer.from('text/plain; name="café"', 'utf8').toString('latin1'),
      }),
      body: 'x',
    });
    expect(binary.status, binary.text()).toBe(400);
    expect(binary.json()).toMatchObject({ code: 'HERALD_INVALID_ATTRIBUTE' });

    // A quoted ASCII parameter (with a quoted-pair) is a media type, and reaches both sinks exactly.
    const contentType = 'text/plain; name="a \\"b\\" c"; charset=utf-8';
    const accepted = await publishStructured(
      JSON.stringify({ ...base('ct-ascii', type), datacontenttype: contentType, data: 'hello' }),
    );
    expect(accepted.status, accepted.text()).toBe(202);
    const records = await ctx.sink.waitFor(
      (r) =>
        deliveredTo(r, `/${type}/binary`, 'ct-ascii') !== undefined &&
        deliveredTo(r, `/${type}/structured`, 'ct-ascii') !== undefined,
    );
    const binaryRecord = deliveredTo(records, `/${type}/binary`, 'ct-ascii')!;
    expect(binaryRecord.headers['content-type']).toBe(contentType);
    expect(bodyText(binaryRecord)).toBe('hello');
    const structured = JSON.parse(bodyText(deliveredTo(records, `/${type}/structured`, 'ct-ascii')!)) as {
      datacontenttype: string;
    };
    expect(structured.datacontenttype).toBe(contentType);
    expect(records.filter((r) => r.path.startsWith(`/${type}/`))).toHaveLength(2);
  });

  it('refuses an Integer extension written with a fraction or an exponent (1.0, 1e3), which went to structured sinks as sent', async () => {
    const type = 'wire.integer';
    await subscribeBoth(type);
    for (const [id, spelling] of [
      ['int-fraction', '1.0'],
      ['int-exponent', '1e3'],
      ['int-upper-exponent', '-2E1'],
      ['int-zero-fraction', '0.00'],
    ] as const) {
      const text = `{"specversion":"1.0","id":"${id}","source":"/wire","type":"${type}","priority":${spelling},"data":{"n":1.5}}`;
      const refused = await publishStructured(text);
      expect(refused.status, `${spelling}: ${refused.text()}`).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'HERALD_INVALID_ATTRIBUTE', pointer: '/priority' });
    }
    // In a batch the element is named, and nothing of the batch is stored.
    const batch = await send(ctx.broker.url, {
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: `[{"specversion":"1.0","id":"int-batch-0","source":"/wire","type":"${type}","priority":7},
              {"specversion":"1.0","id":"int-batch-1","source":"/wire","type":"${type}","priority":7.0}]`,
    });
    expect(batch.status, batch.text()).toBe(400);
    expect(batch.json()).toMatchObject({
      code: 'HERALD_INVALID_ATTRIBUTE',
      index: 1,
      pointer: '/1/priority',
    });

    // Integers as the JSON format spells them (the 32-bit bounds, a minus sign, -0), and JSON data
    // numbers with fractions and exponents, pass and reach both sinks with their types.
    const text =
      `{"specversion":"1.0","id":"int-ok","source":"/wire","type":"${type}","lowest":-2147483648,` +
      `"highest":2147483647,"zero":-0,"flag":false,"data":{"n":1.5e3}}`;
    const accepted = await publishStructured(text);
    expect(accepted.status, accepted.text()).toBe(202);
    const records = await ctx.sink.waitFor(
      (r) =>
        deliveredTo(r, `/${type}/binary`, 'int-ok') !== undefined &&
        deliveredTo(r, `/${type}/structured`, 'int-ok') !== undefined,
    );
    const binaryRecord = deliveredTo(records, `/${type}/binary`, 'int-ok')!;
    expect(binaryRecord.headers['ce-lowest']).toBe('-2147483648');
    expect(binaryRecord.headers['ce-highest']).toBe('2147483647');
    expect(binaryRecord.headers['ce-flag']).toBe('false');
    const structured = bodyText(deliveredTo(records, `/${type}/structured`, 'int-ok')!);
    expect(JSON.parse(structured)).toMatchObject({ lowest: -2147483648, highest: 2147483647, flag: false });
    expect(structured).not.toMatch(/"(?:lowest|highest|zero)":-?[0-9]+[.eE]/);
    expect(records.filter((r) => r.path.startsWith(`/${type}/`))).toHaveLength(2);
  });

  it('keeps a text body that starts with a byte order mark byte for byte in structured delivery', async () => {
    const type = 'wire.bom';
    await subscribeBoth(type);
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('héllo\n', 'utf8')]);
    const binary = await send(ctx.broker.url, {
      headers: binaryHeaders('bom-binary', { 'ce-type': type, 'content-type': 'text/plain; charset=utf-8' }),
      body: bytes,
    });
    expect(binary.status, binary.text()).toBe(202);
    // The same text published in structured mode: a data string that starts with U+FEFF.
    const structuredIn = await publishStructured(
      JSON.stringify({
        ...base('bom-structured', type),
        datacontenttype: 'text/plain',
        data: '\uFEFFhéllo\n',
      }),
    );
    expect(structuredIn.status, structuredIn.text()).toBe(202);
    const records = await ctx.sink.waitFor((r) =>
      ['bom-binary', 'bom-structured'].every(
        (id) =>
          deliveredTo(r, `/${type}/binary`, id) !== undefined &&
          deliveredTo(r, `/${type}/structured`, id) !== undefined,
      ),
    );
    for (const id of ['bom-binary', 'bom-structured']) {
      const binaryRecord = deliveredTo(records, `/${type}/binary`, id)!;
      expect(Buffer.from(binaryRecord.body, 'base64').equals(bytes), id).toBe(true);
      const event = JSON.parse(bodyText(deliveredTo(records, `/${type}/structured`, id)!)) as {
        data: string;
      };
      expect(Buffer.from(event.data, 'utf8').toString('hex'), id).toBe(bytes.toString('hex'));
    }
  });
  it('delivers an event whose datacontenttype is a CloudEvents format to a binary subscription so that a binding-conformant reader gets that event, not its data', async () => {
    const type = 'wire.nested';
    await subscribe(ctx.broker.url, { sink: `${ctx.sink.url}/${type}/binary`, types: [type] });
    // The data is itself a CloudEvent. In binary mode Content-Type carries datacontenttype, and HTTP
    // binding §3 has a receiver read any `application/cloudevents…` Content-Type as structured (or batch).
    const inner = { specversion: '1.0', id: 'inner', source: '/inner', type: 'inner.type' };
    for (const [id, contentType, data] of [
      ['nested-event', 'application/cloudevents+json', inner],
      ['nested-batch', 'application/cloudevents-batch+json; charset=utf-8', [inner]],
      ['nested-object', 'Application/CloudEvents+JSON', { a: 1 }],
    ] as const) {
      const accepted = await publishStructured(
        JSON.stringify({ ...base(id, type), datacontenttype: contentType, subject: 'outer', data }),
      );
      expect(accepted.status, accepted.text()).toBe(202);
    }
    const ids = ['nested-event', 'nested-batch', 'nested-object'];
    const records = await ctx.sink.waitFor(
      (r) => r.filter((x) => x.path === `/${type}/binary`).length >= ids.length,
    );
    const read = records
      .filter((r) => r.path === `/${type}/binary`)
      // The official JavaScript SDK reads each request as the binding says.
      .map((r) => HTTP.toEvent({ headers: r.headers, body: bodyText(r) }))
      .flat()
      .map((event) => ({
        id: event.id,
        type: event.type,
        subject: event.subject,
        datacontenttype: event.datacontenttype,
        data: event.data,
      }));
    expect(read.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      {
        id: 'nested-batch',
        type,
        subject: 'outer',
        datacontenttype: 'application/cloudevents-batch+json; charset=utf-8',
        data: [inner],
      },
      {
        id: 'nested-event',
        type,
        subject: 'outer',
        datacontenttype: 'application/cloudevents+json',
        data: inner,
      },
      {
        id: 'nested-object',
        type,
        subject: 'outer',
        datacontenttype: 'Application/CloudEvents+JSON',
        data: { a: 1 },
      },
    ]);
  });
  it('refuses text data with a lone surrogate, which has no UTF-8 bytes (it reached sinks as U+FFFD)', async () => {
    const type = 'wire.surrogate';
    await subscribeBoth(type);
    const refused = await publishStructured(
      JSON.stringify({ ...base('lone-surrogate', type), datacontenttype: 'text/plain', data: 'a\uD800b' }),
    );
    expect(refused.status, refused.text()).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'HERALD_INVALID_DATA', pointer: '/data' });
    // A pair is one character and passes, reaching both sinks as its four UTF-8 bytes.
    const accepted = await publishStructured(
      JSON.stringify({
        ...base('surrogate-pair', type),
        datacontenttype: 'text/plain',
        data: 'a\uD83D\uDE00b',
      }),
    );
    expect(accepted.status, accepted.text()).toBe(202);
    const records = await ctx.sink.waitFor(
      (r) =>
        deliveredTo(r, `/${type}/binary`, 'surrogate-pair') !== undefined &&
        deliveredTo(r, `/${type}/structured`, 'surrogate-pair') !== undefined,
    );
    expect(bodyText(deliveredTo(records, `/${type}/binary`, 'surrogate-pair')!)).toBe('a😀b');
    expect(records.filter((r) => r.path.startsWith(`/${type}/`))).toHaveLength(2);
  });
});
