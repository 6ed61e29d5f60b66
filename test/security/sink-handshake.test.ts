// Acceptance (#10 point 4): with --sink-handshake required a subscription delivers nothing until its
// sink consents in the CloudEvents Web Hook validation handshake (OPTIONS + WebHook-Request-Origin,
// answered with WebHook-Allowed-Origin); it shows `validating` and lastError meanwhile, the handshake
// is retried with backoff, and WebHook-Allowed-Rate caps the delivery rate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { metricValue, publish, requestJson, sleep, subscribe, waitForStatus } from '../harness/client.js';
import { startHostileSink } from './support/hostile-sink.js';
import type { HostileSink } from './support/hostile-sink.js';

const ORIGIN = 'herald.test.example';

describe('Web Hook validation handshake (--sink-handshake required)', () => {
  let broker: BrokerProcess;
  let sink: HostileSink;
  beforeAll(async () => {
    [broker, sink] = await Promise.all([
      startBroker({ args: ['--sink-handshake', 'required', '--sink-handshake-origin', ORIGIN] }),
      startHostileSink(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), sink.stop()]);
    removeDir(broker.dataDir);
  });

  const posts = async (path: string) =>
    (await sink.received()).filter((r) => r.method === 'POST' && r.path === path);

  it('stays validating and delivers nothing while the sink does not consent, then delivers', async () => {
    await sink.configure({ mode: 'ok' }); // OPTIONS → 405, no WebHook-Allowed-Origin
    const subscription = await subscribe(broker.url, {
      sink: `${sink.url}/hook`,
      delivery: { backoffDelay: 'PT0.2S', backoffMax: 'PT0.5S' },
    });
    await publish(broker.url, { id: 'before-consent' });
    const refused = await waitForStatus(broker.url, subscription.id, (s) => s.lastError !== null);
    expect(refused.state).toBe('validating');
    expect(refused.lastError).toMatchObject({ code: 'HERALD_SINK_HANDSHAKE_FAILED' });
    // Retried with backoff, never a POST.
    await sink.waitFor((r) => r.filter((x) => x.method === 'OPTIONS').length >= 3);
    expect(await posts('/hook')).toHaveLength(0);

    // A wrong origin is no consent either.
    await sink.configure({ mode: 'ok', handshake: { 'webhook-allowed-origin': 'someone-else.example' } });
    await sleep(1_000);
    expect((await waitForStatus(broker.url, subscription.id, () => true)).state).toBe('validating');
    expect(await posts('/hook')).toHaveLength(0);

    await sink.configure({ mode: 'ok', handshake: { 'webhook-allowed-origin': ORIGIN } });
    const records = await sink.waitFor((r) => r.some((x) => x.method === 'POST' && x.path === '/hook'));
    const options = records.filter((r) => r.method === 'OPTIONS');
    expect(options[0]?.headers['webhook-request-origin']).toBe(ORIGIN);
    expect(options[0]?.path).toBe('/hook');
    const delivery = records.find((r) => r.method === 'POST' && r.path === '/hook');
    expect(delivery?.headers['ce-id']).toBe('before-consent');
    expect(delivery?.headers['webhook-request-origin']).toBe(ORIGIN);
    const status = await waitForStatus(broker.url, subscription.id, (s) => s.state === 'active');
    expect(status.lastError).toBeNull();
    expect(await metricValue(broker.url, 'herald_sink_handshake_failures_total')).toBeGreaterThanOrEqual(3);
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });

  it('honours WebHook-Allowed-Rate as a rate limit', async () => {
    await sink.configure({
      mode: 'ok',
      handshake: { 'webhook-allowed-origin': '*', 'webhook-allowed-rate': '60' },
    });
    const subscription = await subscribe(broker.url, { sink: `${sink.url}/rated` });
    await waitForStatus(broker.url, subscription.id, (s) => s.state === 'active');
    for (let i = 0; i < 4; i++) await publish(broker.url, { id: `rated-${i}` });
    await sink.waitFor((r) => r.filter((x) => x.method === 'POST' && x.path === '/rated').length === 4);
    const times = (await posts('/rated')).map((r) => r.at);
    const spread = Math.max(...times) - Math.min(...times);
    console.log(`60 per minute allowed: 4 deliveries spread over ${spread} ms`);
    // One per second: four deliveries take at least ~3 s (unlimited they take milliseconds).
    expect(spread).toBeGreaterThanOrEqual(2_500);
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });
});
