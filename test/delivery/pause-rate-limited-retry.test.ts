// "Paused subscriptions receive nothing: no attempt starts, retries included" (docs/subscriptions.md). A
// retry of a rate-limited subscription first waits for the rate limit's token; a pause that comes while it
// waits must hold it like a pause during the backoff does. The limit here is one request per ten seconds,
// the backoff none: the retry goes straight to a wait of about ten seconds for its token, and the pause,
// sent as soon as the sink answered the first attempt, lands in that wait. A correct broker sends nothing
// more until the resume however long the test watches; the watch is only a bound on waiting for a wrong one.
import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { publish, requestJson, sleep, subscribe, waitForStatus } from '../harness/client.js';

describe('pausing a subscription whose retry waits for the rate limit', () => {
  const ctx = useBrokerAndSink();

  it('makes no attempt once paused, and the retry goes on after the resume', async () => {
    const { broker, sink } = ctx;
    await sink.configure({ status: 503, failTimes: 0, delayMs: 0 });
    const type = 'com.example.policy.paused-token-wait';
    const subscription = await subscribe(broker.url, {
      sink: `${sink.url}/paused-token-wait`,
      types: [type],
      delivery: {
        retry: 5,
        backoffPolicy: 'linear',
        backoffDelay: 'PT0S',
        backoffMax: 'PT0S',
        jitter: 0,
        rateLimit: 0.1,
      },
    });
    await publish(broker.url, { id: 'token-wait-1', type });
    await sink.waitFor((r) => r.length >= 1);
    const pause = await requestJson('POST', `${broker.url}/subscriptions/${subscription.id}/pause`);
    expect(pause.status).toBe(200);
    await waitForStatus(broker.url, subscription.id, (s) => s.state === 'paused');

    // The retry's token comes about ten seconds after the first attempt; watch half as long again.
    for (let i = 0; i < 30; i++) {
      await sleep(500);
      const attempts = (await sink.received()).map((r) => r.headers['herald-attempt']);
      // Before the fix: ['1', '2'], the second sent while paused, once the token came.
      expect(attempts).toEqual(['1']);
    }

    const resume = await requestJson('POST', `${broker.url}/subscriptions/${subscription.id}/resume`);
    expect(resume.status).toBe(200);
    const records = await sink.waitFor((r) => r.length >= 2);
    expect(records.map((r) => r.headers['herald-attempt']).slice(0, 2)).toEqual(['1', '2']);
    expect(records.every((r) => r.headers['ce-id'] === 'token-wait-1')).toBe(true);
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });
});
