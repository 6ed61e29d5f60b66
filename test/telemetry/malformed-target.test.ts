// A request target Node's parser takes but that is no URL (`POST http://[/events`, a port above 65535)
// threw from the broker's URL parsing: a 500 HERALD_INTERNAL, logged at error level with its stack and the
// whole target, once per request, unthrottled. Any client, unauthenticated (it is parsed before
// authentication), could so write a line of up to Node's 16 KiB request line per request at whatever
// rate it sends, and make the broker's internal-error count (and alerts on 5xx) say the broker is broken.
// It is the client's malformed request: a 400 HERALD_BAD_HTTP_REQUEST, logged at debug like other 4xx.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useBroker } from '../harness/processes.js';
import { metricValue } from '../support/http.js';

/** Sends `POST <target>` on a raw connection (fetch would not send such a target) and reads the answer. */
function rawPost(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.end(
      `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
  });
}

describe('a request target that is no URL', () => {
  let output = '';
  const context = useBroker({ onOutput: (text) => (output += text) });

  it('is a 400 the client caused, not an internal error logged per request', async () => {
    const { broker } = context;
    const port = Number(new URL(broker.url).port);
    const start = output.length;
    const requests = 50;
    for (let i = 0; i < requests; i++) {
      const target =
        i % 2 === 0 ? `http://[${'a'.repeat(8000)}/events` : `http://127.0.0.1:99999/events?${i}`;
      const answer = await rawPost(port, target);
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(answer).toContain('"code":"HERALD_BAD_HTTP_REQUEST"');
    }
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_requests_rejected_total{code="HERALD_BAD_HTTP_REQUEST"}')).toBe(
      requests,
    );
    expect(metrics).not.toContain('code="HERALD_INTERNAL"');
    // Before: 50 "request failed" errors with stacks, 400 KB of log.
    const failed = output
      .slice(start)
      .split('\n')
      .filter((line) => line.includes('"level":50'));
    expect(failed).toEqual([]);
  });
});
