// Acceptance (#11 findings 4, 5, 6, 7 and #10 point 6's last clause): a hostile sink cannot exhaust
// or stall a broker. A 300 MB error body is not read (RSS stays flat), a trickling answer ends at
// the attempt's overall deadline, SIGTERM aborts a hanging attempt at --shutdown-timeout without
// losing the event, durations are capped, and status never echoes a sink's answer.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { metricValue, publish, requestJson, subscribe, waitForStatus } from '../harness/client.js';
import { startHostileSink } from './support/hostile-sink.js';
import type { HostileSink } from './support/hostile-sink.js';

/** Resident and peak resident memory of a process, in MiB, from /proc. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

describe('hostile sinks', () => {
  let broker: BrokerProcess;
  let hostile: HostileSink;
  beforeAll(async () => {
    [broker, hostile] = await Promise.all([startBroker(), startHostileSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), hostile.stop()]);
    removeDir(broker.dataDir);
  });

  it('a 500 with a 300 MB body: read up to the limit, RSS stays flat (#11 finding 4)', async () => {
    await hostile.configure({ mode: 'huge', bytes: 300 * 1024 * 1024 });
    const pid = broker.child.pid as number;
    const before = memoryOf(pid);
    const subscription = await subscribe(broker.url, {
      sink: `${hostile.url}/huge`,
      delivery: { maxInFlight: 2, retry: 3, backoffDelay: 'PT0.1S', backoffMax: 'PT0.2S' },
    });
    await publish(broker.url, { id: 'huge-1' });
    await publish(broker.url, { id: 'huge-2' });
    // Two events, four attempts each: eight 300 MB answers that must not be read.
    const status = await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === 2, 60_000);
    const after = memoryOf(pid);
    console.log(
      `huge answers: broker RSS ${before.rss.toFixed(0)} MiB before, ${after.rss.toFixed(0)} MiB after, peak ${after.peak.toFixed(0)} MiB (was ${before.peak.toFixed(0)})`,
    );
    expect(after.peak - before.rss).toBeLessThan(100);
    expect(after.rss - before.rss).toBeLessThan(50);
    expect(status.lastError).toMatchObject({ code: 'HERALD_SINK_UNAVAILABLE', status: 500 });
    expect(JSON.stringify(status.lastError)).not.toContain('aaaa');
    expect(await metricValue(broker.url, 'herald_sink_responses_truncated_total')).toBeGreaterThanOrEqual(8);
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });

  it("status never echoes a sink's answer (#10 point 6)", async () => {
    await hostile.configure({
      mode: 'ok',
      status: 404,
      body: 'internal-admin-console: root password is hunter2',
    });
    const subscription = await subscribe(broker.url, { sink: `${hostile.url}/internal` });
    await publish(broker.url, { id: 'echo' });
    const status = await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === 1, 60_000);
    expect(status.lastError).toMatchObject({
      code: 'HERALD_SINK_REJECTED',
      status: 404,
      message: 'sink answered 404',
    });
    const letters = await requestJson('GET', `${broker.url}/subscriptions/${subscription.id}/deadletters`);
    expect(JSON.stringify(letters.body)).not.toContain('hunter2');
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });

  it('a sink trickling one byte every 2 s fails at the PT3S deadline (#11 finding 5)', async () => {
    await hostile.configure({ mode: 'trickle', everyMs: 2000 });
    const aborts = await metricValue(broker.url, 'herald_sink_deadline_aborts_total');
    const subscription = await subscribe(broker.url, {
      sink: `${hostile.url}/trickle`,
      delivery: { timeout: 'PT3S', retry: 5, backoffDelay: 'PT30S' },
    });
    await publish(broker.url, { id: 'trickle' });
    const attempts = await hostile.waitFor((records) => records.some((r) => r.path === '/trickle'));
    const attempt = attempts.find((r) => r.path === '/trickle');
    const status = await waitForStatus(broker.url, subscription.id, (s) => s.lastError !== null, 30_000);
    const elapsed = Date.parse((status.lastError as { at: string }).at) - (attempt as { at: number }).at;
    console.log(`trickling sink: attempt failed after ${elapsed} ms (timeout PT3S)`);
    expect(status.state).toBe('failing');
    expect(status.lastError).toMatchObject({ code: 'HERALD_SINK_TIMEOUT' });
    // An idle timeout would never fire (a byte arrives every 2 s); generous bound for a busy machine.
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect(elapsed).toBeLessThan(15_000);
    expect(await metricValue(broker.url, 'herald_sink_deadline_aborts_total')).toBeGreaterThan(aborts);
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });

  it('durations are capped: P30D backoff is a coded 400 (#11 finding 7)', async () => {
    for (const delivery of [{ backoffDelay: 'P30D' }, { backoffMax: 'P30D' }, { timeout: 'P1000D' }]) {
      const response = await requestJson<{ code: string; pointer: string }>(
        'POST',
        `${broker.url}/subscriptions`,
        {
          sink: `${hostile.url}/x`,
          protocol: 'HTTP',
          delivery,
        },
      );
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('HERALD_INVALID_REQUEST');
      expect(response.body.pointer).toBe(`/delivery/${Object.keys(delivery)[0]}`);
    }
  });
});

describe('SIGTERM with an attempt hanging on a sink (#11 finding 6)', () => {
  it('aborts it at --shutdown-timeout, exits, and delivers the event after a restart', async () => {
    const hanging = await startHostileSink();
    const healthy = await startSink();
    await hanging.configure({ mode: 'hang' });
    let broker = await startBroker({ args: ['--shutdown-timeout', '2s'] });
    const dataDir = broker.dataDir;
    try {
      // The longest timeout allowed: only shutdown can end this attempt.
      const subscription = await subscribe(broker.url, {
        sink: `${hanging.url}/hang`,
        delivery: { timeout: 'P1D' },
      });
      await publish(broker.url, { id: 'in-flight-at-sigterm' });
      await hanging.waitFor((records) => records.length === 1);
      const started = Date.now();
      const code = await broker.stop('SIGTERM');
      const took = Date.now() - started;
      console.log(
        `SIGTERM with a hanging attempt: exited ${String(code)} after ${took} ms (--shutdown-timeout 2s)`,
      );
      expect(code).toBe(0);
      expect(took).toBeLessThan(20_000);

      // Point the subscription at a healthy sink and restart: the event was not lost.
      broker = await startBroker({ dataDir });
      const update = await requestJson('PUT', `${broker.url}/subscriptions/${subscription.id}`, {
        sink: `${healthy.url}/after-restart`,
        protocol: 'HTTP',
      });
      expect(update.status).toBe(200);
      const records = await healthy.waitFor((r) => r.length >= 1);
      expect(records[0]?.headers['ce-id']).toBe('in-flight-at-sigterm');
    } finally {
      await Promise.all([broker.stop(), hanging.stop(), healthy.stop()]);
      removeDir(dataDir);
    }
  });
});
