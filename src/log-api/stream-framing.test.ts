// GET /events/stream frames each event as one Server-Sent Events message, whatever line breaks its JSON
// data holds: JSON data is kept as the producer sent it, and JSON allows CR and LF as whitespace between
// tokens, so a pretty-printed payload carries raw line breaks that SSE reads as the ends of lines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldClient } from '../client/index.js';
import { jsonEvent, serveLogApi } from './testing/serve-log-api.js';
import type { ServedLogApi } from './testing/serve-log-api.js';

/** Valid JSON whose whitespace holds every SSE line break: LF, CR, CRLF, and an empty line (LF LF). */
const PRETTY = '{\n  "a": 1,\r\n  "b": [\r1,\n\n2],\r\r"c": "x"\n}';

let served: ServedLogApi;
let url: string;

beforeAll(async () => {
  served = await serveLogApi(async (store) => {
    await store.append([jsonEvent('pretty', PRETTY, 'com.example.framing')]);
    await store.append([jsonEvent('after', '{"n":2}', 'com.example.framing')]);
  });
  url = served.url;
});

afterAll(() => served.close());

/** The messages of an SSE text as the WHATWG parser sees them (lines end at CRLF, LF or CR). */
function sseMessages(text: string): Array<{ id: string | undefined; data: string }> {
  const messages: Array<{ id: string | undefined; data: string }> = [];
  let id: string | undefined;
  let data: string[] = [];
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === '') {
      if (data.length > 0) messages.push({ id, data: data.join('\n') });
      data = [];
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return messages;
}

describe('GET /events/stream framing of JSON data with line breaks', () => {
  it('sends each event as one message whose data is the whole event', async () => {
    const controller = new AbortController();
    const response = await fetch(`${url}/events/stream?from=1`, { signal: controller.signal });
    let text = '';
    const decoder = new TextDecoder();
    // Read until the second event's id line has arrived and its message ended.
    for await (const chunk of response.body as ReadableStream<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (/\nid: 2\n[^]*\n\n/.test(text)) break;
    }
    controller.abort();
    const messages = sseMessages(text);
    expect(messages.map((m) => m.id)).toEqual(['1', '2']);
    expect(JSON.parse(messages[0]!.data)).toMatchObject({ id: 'pretty', data: JSON.parse(PRETTY) });
    expect(JSON.parse(messages[1]!.data)).toMatchObject({ id: 'after', data: { n: 2 } });
  });

  it("the client's tail() yields the event, without a reconnect that would skip it", async () => {
    const client = new HeraldClient({ url });
    const reconnects: string[] = [];
    const seen: Array<{ sequence: number; id: unknown; data: unknown }> = [];
    // Until the last event: a message the client cannot read would make it reconnect after that
    // message's id, i.e. skip its event.
    for await (const { sequence, json } of client.tail({
      from: 'earliest',
      reconnectDelayMs: 1,
      onReconnect: (_attempt, error) => reconnects.push(error?.message ?? 'ended'),
    })) {
      seen.push({ sequence, id: json['id'], data: json['data'] });
      if (sequence === 2) break;
    }
    expect(seen).toEqual([
      { sequence: 1, id: 'pretty', data: JSON.parse(PRETTY) },
      { sequence: 2, id: 'after', data: { n: 2 } },
    ]);
    expect(reconnects).toEqual([]);
  });
});
