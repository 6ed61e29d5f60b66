// A broker whose store is not available answers every request 503 before authentication (its store is
// still connecting, or gone); an authentication backend that is down does the same to every credential.
// Each such refusal wrote a warning quoting the request's path: any client, unauthenticated, could make
// the broker write a line per request of up to Node's 16 KiB of request line, at whatever rate it sends,
// at the level operators keep. --log-refusals-interval writes at most one such line per error code per
// interval, with the count of the refusals it stands for; each is still counted in
// herald_requests_rejected_total{code}, and the lines left out in herald_log_lines_suppressed_total.
import { afterAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { freePort } from '../infra/process.js';
import { metricValue } from '../support/http.js';

describe('refusals an unauthenticated client can cause are not logged one line each', () => {
  let broker: BrokerProcess | undefined;
  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('200 requests with 8 KB paths while the store is unreachable write a bounded log', async () => {
    let output = '';
    // A NATS address nothing listens on: the broker serves, but its store never becomes available.
    broker = await startBroker({
      args: ['--store', 'jetstream', '--nats-url', `nats://127.0.0.1:${await freePort()}`],
      onOutput: (text) => (output += text),
    });
    const requests = 200;
    const start = output.length;
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${broker.url}/subscriptions/${'a'.repeat(8000)}-${i}`);
      await response.arrayBuffer();
      expect(response.status).toBe(503);
    }
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    // Every refusal is still counted.
    expect(
      metricValue(metrics, 'herald_requests_rejected_total{code="HERALD_STORE_UNAVAILABLE"}'),
    ).toBeGreaterThanOrEqual(requests);
    const refused = output
      .slice(start)
      .split('\n')
      .filter((line) => line.includes('"request refused"'));
    // Before: 200 lines, 1.6 MB. The default interval (10 s) lets a line through per interval at most.
    expect(refused.length).toBeLessThan(requests / 4);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'herald_log_lines_suppressed_total')).toBeGreaterThanOrEqual(
      requests - refused.length * 2,
    );
  });
});
