// A request that ends in a 500 that means the broker or its data is broken (HERALD_INTERNAL, an
// unexpected failure; HERALD_LOG_CORRUPT, damage to the log: here the embedded store's segment file cut
// short under the running broker, so every read of its events finds no payload) was logged as an error
// with its stack, once per request: any client that can read the log (GET /events) could make the broker
// write a stack per request, at whatever rate it sends. --log-refusals-interval now bounds these lines
// too: the first of an interval keeps its stack (operators need it), later ones are counted (`suppressed`
// in the next line written, herald_log_lines_suppressed_total), and every such answer is still counted in
// herald_requests_rejected_total. The cut-short segment answered HERALD_INTERNAL ("segment 1 has no
// payload at 0") before it was named as the damage it is.
import { afterAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { publishThenCutSegments } from '../support/cut-segments.js';
import { metricValue } from '../support/http.js';

describe('broker faults a client can provoke per request are not logged one stack each', () => {
  let broker: BrokerProcess | undefined;
  afterAll(async () => {
    await broker?.stop('SIGKILL');
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('100 reads of events whose segment was cut short write a bounded log, the first with its stack', async () => {
    let output = '';
    broker = await startBroker({ onOutput: (text) => (output += text) });
    await publishThenCutSegments(broker, '/internal-logs');

    const requests = 100;
    const start = output.length;
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${broker.adminUrl}/events?from=1&limit=1`);
      const body = (await response.json()) as { code?: string };
      expect(response.status).toBe(500);
      expect(body.code).toBe('HERALD_LOG_CORRUPT');
    }
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_requests_rejected_total{code="HERALD_LOG_CORRUPT"}')).toBe(requests);
    const lines = output
      .slice(start)
      .split('\n')
      .filter((line) => line.includes('HERALD_LOG_CORRUPT'));
    // Before: 100 lines, each with a stack. The default interval (10 s) lets one through per interval.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(requests / 4);
    // The first is an error with the stack of what failed, naming the damage.
    expect(lines[0]).toContain('"level":50');
    expect(lines[0]).toContain('"stack"');
    expect(lines[0]).toMatch(/segment \d+\.seg ends before the record at \d+: the file was cut short/);
    expect(metricValue(metrics, 'herald_log_lines_suppressed_total')).toBeGreaterThanOrEqual(
      requests - lines.length * 2,
    );
  });
});
