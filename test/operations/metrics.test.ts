// Acceptance: /healthz, /readyz, and /metrics with the ingress counters, the append histogram and the
// log gauge, all agreeing with what was published.
import { describe, expect, it } from 'vitest';
import { useBroker } from '../harness/processes.js';
import { binaryHeaders, metricValue, send } from '../support/http.js';

const ctx = useBroker();

describe('health endpoints', () => {
  it('answers /healthz and /readyz with 200', async () => {
    const health = await fetch(`${ctx.broker.adminUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${ctx.broker.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: true });
  });
});

describe('/metrics', () => {
  it('counts accepted events, duplicates, rejections by code, appends and the log size', async () => {
    const batch = [1, 2].map((n) => ({ specversion: '1.0', id: `m-${n}`, source: '/metrics', type: 't' }));
    const publishes = [
      send(ctx.broker.url, {
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(batch),
      }),
      send(ctx.broker.url, { headers: binaryHeaders('m-3') }),
    ];
    for (const response of await Promise.all(publishes)) expect(response.status).toBe(202);
    // A duplicate of m-3 is acknowledged but neither stored nor counted as accepted.
    expect((await send(ctx.broker.url, { headers: binaryHeaders('m-3') })).status).toBe(202);
    expect((await send(ctx.broker.url, { headers: binaryHeaders('m-4') })).status).toBe(202);
    const missingType = { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': '/s' };
    expect((await send(ctx.broker.url, { headers: missingType })).status).toBe(400);
    expect((await send(ctx.broker.url, { headers: missingType })).status).toBe(400);
    expect(
      (await send(ctx.broker.url, { headers: { 'content-type': 'text/plain' }, body: 'x' })).status,
    ).toBe(415);

    const response = await fetch(`${ctx.broker.adminUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();

    expect(metricValue(text, 'herald_events_accepted_total')).toBe(4);
    expect(metricValue(text, 'herald_events_duplicate_total')).toBe(1);
    expect(metricValue(text, 'herald_requests_rejected_total{code="HERALD_MISSING_ATTRIBUTE"}')).toBe(2);
    expect(metricValue(text, 'herald_requests_rejected_total{code="HERALD_UNSUPPORTED_MEDIA_TYPE"}')).toBe(1);
    expect(text).toContain('# TYPE herald_append_duration_seconds histogram');
    // One append per accepted request: the batch, m-3, its duplicate, m-4.
    expect(metricValue(text, 'herald_append_duration_seconds_count')).toBe(4);
    expect(metricValue(text, 'herald_append_duration_seconds_bucket{le="+Inf"}')).toBe(4);
    expect(metricValue(text, 'herald_append_duration_seconds_sum')).toBeGreaterThan(0);
    expect(metricValue(text, 'herald_log_events')).toBe(4);
    expect(metricValue(text, 'herald_log_last_sequence')).toBe(4);
  });

  it('exports the process metrics under their standard names, without a doubled prefix', async () => {
    const text = await (await fetch(`${ctx.broker.adminUrl}/metrics`)).text();
    const names = new Set(
      text
        .split('\n')
        .filter((line) => line.startsWith('# TYPE '))
        .map((line) => line.split(' ')[2]),
    );
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(names, name).toContain(name);
    expect(
      [...names].filter((name) => /process_process_|^herald_process_|^herald_nodejs_/.test(name!)),
    ).toEqual([]);
    expect(metricValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
