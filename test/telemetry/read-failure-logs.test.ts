// A read of the log that fails, fails for every subscription reading on its own (catching up: a store
// away, a damaged segment), and each tries again every second. Each logged an error with its stack on
// every try: a line per subscription per second, a flood with many subscriptions, for as long as the fault
// lasts. --log-refusals-interval now bounds them: one line per cause (the error's code) per interval, the
// first with its stack, the rest counted in herald_log_lines_suppressed_total.
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { freePort } from '../infra/process.js';
import { publishThenCutSegments } from '../support/cut-segments.js';
import { metricValue } from '../support/http.js';

const SUBSCRIPTIONS = 20;

describe('a read failure every subscription repeats', () => {
  let broker: BrokerProcess | undefined;
  afterAll(async () => {
    await broker?.stop('SIGKILL');
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it(`is logged once per interval, not once per second by each of ${SUBSCRIPTIONS} subscriptions`, async () => {
    let output = '';
    broker = await startBroker({ onOutput: (text) => (output += text) });
    await publishThenCutSegments(broker, '/read-failures');

    const start = output.length;
    // Never reached: every subscription fails to read its first event.
    const sink = `http://127.0.0.1:${await freePort()}/`;
    for (let i = 0; i < SUBSCRIPTIONS; i++) await subscribe(broker.adminUrl, { sink, startAt: 'earliest' });
    // Each subscription tries again every second: three tries each, at least.
    await sleep(3_500);

    const lines = output
      .slice(start)
      .split('\n')
      .filter((line) => line.includes('reading the log failed'));
    // Before: one per subscription per try (60 and more here). The default interval (10 s) lets one through.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(SUBSCRIPTIONS);
    expect(lines[0]).toContain('HERALD_LOG_CORRUPT');
    expect(lines[0]).toContain('"stack"');
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_log_lines_suppressed_total')).toBeGreaterThanOrEqual(
      SUBSCRIPTIONS * 2 - lines.length,
    );
  });
});
