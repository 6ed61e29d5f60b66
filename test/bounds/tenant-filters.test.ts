// A hostile tenant within its limits: one principal owns 300 subscriptions (of the 1,000 --max-subscriptions
// allows) whose CESQL filter spends the whole --filter-eval-budget on an event it publishes. The budget
// bounds each subscription, not the event: the shared tail evaluated all 300 filters of one event in one
// synchronous run, seconds during which the broker answered nothing, not even GET /healthz. The broker runs
// with a budget an operator raised 25-fold: since a LIKE is charged every step its matcher takes, the
// default budget makes a filter cost ~2 ms, and 300 of them in one run would no longer outlast the bound
// below (the slicing would go untested).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../harness/processes.js';
import { metricValue, send, sleep } from '../support/http.js';
import type { RawResponse } from '../support/http.js';
import { startSecureBroker } from '../security/fixtures.js';
import type { SecureBroker } from '../security/fixtures.js';

/** Tried at every start position of the subject and charged per step: each filter runs out of budget. */
const COSTLY = `subject = 'never' OR subject LIKE '%${'a_'.repeat(4000)}b%'`;
/** Well within --max-subscriptions (1,000 per principal by default); each filter costs tens of milliseconds. */
const SUBSCRIPTIONS = 300;
/** --filter-eval-budget, 25 × the default: 300 filters run out of it in seconds, not in one slice. */
const BUDGET = 25_000_000;

let secure: SecureBroker;
beforeAll(async () => {
  secure = await startSecureBroker(['--filter-eval-budget', String(BUDGET)]);
}, 120_000);
afterAll(async () => {
  await secure?.broker.stop();
  if (secure !== undefined) {
    removeDir(secure.broker.dataDir);
    removeDir(secure.dir);
  }
});

function subscribe(principal: 'alice', n: number): Promise<RawResponse> {
  return send(secure.broker.adminUrl, {
    path: '/subscriptions',
    headers: { 'content-type': 'application/json', ...secure.bearer(principal) },
    body: JSON.stringify({
      sink: `http://127.0.0.1:9/${principal}-${n}`,
      protocol: 'HTTP',
      filters: [{ sql: COSTLY }],
    }),
  });
}

/** GET /healthz, or 'no answer' when the broker does not answer within `ms`. */
async function health(ms: number): Promise<number | 'no answer'> {
  try {
    const response = await fetch(`${secure.broker.adminUrl}/healthz`, { signal: AbortSignal.timeout(ms) });
    return response.status;
  } catch {
    return 'no answer';
  }
}

describe('costly filters of many subscriptions on one event', () => {
  it('keep the broker answering GET /healthz while the shared tail evaluates them', async () => {
    for (let n = 0; n < SUBSCRIPTIONS; n += 10) {
      const created = await Promise.all(Array.from({ length: 10 }, (_, i) => subscribe('alice', n + i)));
      expect(created.map((r) => r.status)).toEqual(Array(10).fill(201));
    }
    const published = await send(secure.broker.url, {
      path: '/events',
      headers: { 'content-type': 'application/cloudevents+json', ...secure.bearer('alice') },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'costly',
        source: '/hostile',
        type: 'dev.herald.hostile',
        subject: 'a'.repeat(100_000),
      }),
    });
    expect(published.status).toBe(202);
    // The tail starts on the event as soon as it is stored; a broker that slices the work answers
    // between slices, well within this (generous) bound.
    expect(await health(3_000)).toBe(200);
    // Every filter still ran on the event, each to the end of its budget (none was skipped to answer).
    const exceeded = async () => {
      const metrics = await send(secure.broker.adminUrl, {
        method: 'GET',
        path: '/metrics',
        headers: secure.bearer('ops'),
      });
      return metricValue(metrics.text(), 'herald_filter_budget_exceeded_total{where="subscription"}');
    };
    while ((await exceeded()) !== SUBSCRIPTIONS) await sleep(500);
  }, 180_000);
});
