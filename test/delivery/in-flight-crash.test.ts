// At-least-once across a crash while deliveries are in flight: the sink (its own process) takes its
// time to answer, and fails the first attempts so that some events wait for a retry, so when the
// broker is SIGKILLed a window of deliveries has been sent but not answered and others are between
// attempts. The committed cursor must stay before every one of them: after a restart each event gets
// a delivery answered 200 (requests cut off by the kill are recorded as `unanswered` and do not count).
import { afterAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { publishBatch, subscribe, waitForStatus } from '../harness/client.js';

const EVENTS = 300;
const MAX_IN_FLIGHT = 16;
const SINK_DELAY_MS = 400;
/** The sink answers the first FAILING requests 503; those events wait out a long backoff when the kill comes. */
const FAILING = 8;

describe('at-least-once delivery with deliveries in flight at SIGKILL', () => {
  let broker: BrokerProcess | undefined;
  let sink: SinkProcess | undefined;
  let dataDir = '';

  afterAll(async () => {
    await broker?.stop('SIGKILL');
    await sink?.stop();
    if (dataDir !== '') removeDir(dataDir);
  });

  it('redelivers every event whose delivery was in flight when the broker died', async () => {
    sink = await startSink();
    await sink.configure({ status: 200, delayMs: SINK_DELAY_MS, failTimes: FAILING, failStatus: 503 });
    broker = await startBroker({ args: ['--durability', 'buffered'] });
    dataDir = broker.dataDir;
    const subscription = await subscribe(broker.url, {
      sink: `${sink.url}/slow`,
      delivery: { maxInFlight: MAX_IN_FLIGHT, retry: 3, backoffDelay: 'PT30S', jitter: 0 },
    });
    await publishBatch(
      broker.url,
      Array.from({ length: EVENTS }, (_, i) => ({ id: `f${i}` })),
    );
    const answered = (records: Awaited<ReturnType<SinkProcess['received']>>) =>
      records.filter((r) => r.status === 200 && !r.unanswered);
    // Several windows delivered (cursor commits every 200 ms have moved the cursor), and a window open.
    await sink.waitFor((records) => answered(records).length >= 3 * MAX_IN_FLIGHT, 60_000);
    const inFlightAtKill = await sink.inFlight();
    const failedAtKill = (await sink.received()).filter((r) => r.status === 503).length;
    expect(await broker.stop('SIGKILL')).toBe('SIGKILL');
    expect(inFlightAtKill).toBeGreaterThan(0);
    // Those events are waiting for their second attempt (30 s away): in flight too.
    expect(failedAtKill).toBe(FAILING);

    await sink.configure({ delayMs: 0, failTimes: 0 });
    broker = await startBroker({ dataDir });
    await waitForStatus(broker.url, subscription.id, (status) => status.lag === 0, 60_000);
    const records = await sink.received();
    const delivered = new Set(answered(records).map((r) => r.headers['ce-id']));
    const cutOff = records.filter((r) => r.unanswered).map((r) => r.headers['ce-id']);
    const missing = Array.from({ length: EVENTS }, (_, i) => `f${i}`).filter((id) => !delivered.has(id));
    console.log(
      `in-flight crash: ${inFlightAtKill} deliveries at the sink and ${failedAtKill} waiting to retry at SIGKILL, ` +
        `${cutOff.length} cut off ` +
        `(${cutOff.join(',')}); ${records.length} requests in all; missing after restart: ${missing.length}`,
    );
    expect(missing).toEqual([]);
  });
});
