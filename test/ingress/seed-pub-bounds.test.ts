// The original project's `POST /events/pub` reads an `application/json` body as a structured event (its
// clients sent either media type). Such a body is a structured event like any other, and the bounds of
// one apply to it as they do to `application/cloudevents+json` on the same route.
import { describe, expect, it } from 'vitest';
import { useBrokers } from '../harness/processes.js';
import { metricValue, readLog, send } from '../support/http.js';

const broker = useBrokers();

describe('POST /events/pub with an application/json body', () => {
  it('refuses a body that cannot hold an event within --max-event-size before it is parsed, as cloudevents+json', async () => {
    const b = await broker(['--max-event-size', '64KiB', '--max-request-size', '1MiB']);
    // A small valid event padded with 300 KB of whitespace: over twice the limit plus 64 KiB, so it
    // cannot be within it, and parsing it would be work the limit exists to refuse.
    const body = `{"specversion":"1.0","id":"padded","source":"/s","type":"t"${' '.repeat(300_000)}}`;
    const answers: Record<string, { status: number; code: unknown }> = {};
    for (const type of ['application/cloudevents+json', 'application/json']) {
      const response = await send(b.url, { path: '/events/pub', headers: { 'content-type': type }, body });
      answers[type] = {
        status: response.status,
        code: response.status === 202 ? undefined : (response.json() as { code: unknown }).code,
      };
    }
    const refused = { status: 413, code: 'HERALD_PAYLOAD_TOO_LARGE' };
    expect(answers).toEqual({ 'application/cloudevents+json': refused, 'application/json': refused });
    const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_limit_rejections_total{limit="max-event-size"}')).toBe(2);
    expect(await readLog(b.adminUrl)).toEqual([]);
  });
});
