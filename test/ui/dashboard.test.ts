import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { removeDir, startBroker, useBrokerAndSink } from '../harness/processes.js';
import { publish, publishBatch, requestJson } from '../harness/client.js';
import type { SubscriptionBody } from '../harness/client.js';
import type { SinkRecord } from '../harness/processes.js';
import { POLICY, TOKENS, tokensFile } from '../security/fixtures.js';
import { screenshot, seriousAccessibilityViolations, until, useChromium } from './browser.js';

/** The `ce-id`s of deliveries sorted by their log sequence (`Herald-Sequence`). */
const inLogOrder = (records: readonly SinkRecord[]): string[] =>
  [...records]
    .sort((a, b) => Number(a.headers['herald-sequence']) - Number(b.headers['herald-sequence']))
    .map((r) => r.headers['ce-id'] ?? '');

/**
 * The dashboard in a real Chromium against a real broker process and a real sink process that fails
 * until it is fixed. The tests run in order and share one page, as an operator would use it.
 */
describe('dashboard in Chromium', () => {
  // Few, fast retries so that a failing sink dead-letters within a second.
  const env = useBrokerAndSink(() =>
    startBroker({
      args: ['--delivery-defaults', '{"retry":1,"backoffDelay":"PT0.05S","backoffMax":"PT0.1S"}'],
    }),
  );
  const chromium = useChromium();
  let page: Page;
  let subscriptionId: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.setDefaultTimeout(30_000);
  });

  const open = async (path: string, heading: string) => {
    await page.goto(`${env.broker.adminUrl}/ui/${path}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };

  const expectAccessible = async () => {
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
  };

  it('shows the overview with the log, rates and a chart', async () => {
    await publishBatch(env.broker.url, [{ id: 'o-1' }, { id: 'o-2' }]);
    await open('', 'Overview');
    const lastSequence = page.locator('.figure', { hasText: 'Last sequence' }).locator('.value');
    await until('the last sequence shows 2', async () => (await lastSequence.textContent()) === '2');
    expect(await page.locator('.figure', { hasText: 'Log size' }).textContent()).toContain('2 events');
    expect(await page.locator('.figure', { hasText: 'Retention' }).textContent()).toContain(
      'keep everything',
    );
    expect(await page.getByText('Totals since the broker started').textContent()).toContain('2 published');
    await page.locator('.chart canvas').waitFor();
    // No authentication on this broker: nothing offers to sign in.
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0);
    await screenshot(page, 'overview');
    await expectAccessible();
  });

  it('creates a subscription to a failing sink from the form and shows it turn failing', async () => {
    await env.sink.configure({ status: 503 });
    await open('subscriptions', 'Subscriptions');
    await page.getByText('New subscription').click();
    await page.getByLabel('Sink URL').fill(`${env.sink.url}/orders`);
    await page.getByLabel('CESQL filter (optional)').fill("type LIKE 'com.example.%'");
    await page.getByRole('button', { name: 'Create subscription' }).click();
    await page.getByRole('heading', { level: 1, name: /^Subscription / }).waitFor();
    subscriptionId = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);

    await publishBatch(env.broker.url, [{ id: 'f-1' }, { id: 'f-2' }, { id: 'f-3' }]);
    await page.locator('.details .badge', { hasText: 'failing' }).waitFor();
    await until('three dead letters are counted', async () =>
      ((await page.locator('.details').textContent()) ?? '').includes('3 dead letters'),
    );
    expect(await page.locator('.details').textContent()).toContain('HERALD_SINK_UNAVAILABLE');
    await screenshot(page, 'subscription');
    await expectAccessible();

    await open('subscriptions', 'Subscriptions');
    const row = page.locator(`tr[data-subscription="${subscriptionId}"]`);
    await row.locator('.badge', { hasText: 'failing' }).waitFor();
    expect(await row.textContent()).toContain("type LIKE 'com.example.%'");
    expect(await row.textContent()).toContain(`${env.sink.url}/orders`);
    await screenshot(page, 'subscriptions');
    await expectAccessible();
  });

  it('sorts and searches the subscriptions table', async () => {
    const other = await requestJson<SubscriptionBody>('POST', `${env.broker.adminUrl}/subscriptions`, {
      protocol: 'HTTP',
      sink: `${env.sink.url}/audit`,
      types: ['com.example.audit'],
    });
    expect(other.status).toBe(201);
    const rows = page.locator('tbody tr[data-subscription]');
    await until('both subscriptions are listed', async () => (await rows.count()) === 2);
    const ids = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-subscription')));
    const sorted = [subscriptionId, other.body.id].sort();
    await page.getByRole('button', { name: 'Subscription', exact: true }).click();
    await until('sorted descending by id', async () => (await ids()).join() === [...sorted].reverse().join());
    expect(await page.locator('th[aria-sort="descending"]').textContent()).toContain('Subscription');

    await page.getByLabel('Search').fill('audit');
    await until('only the audit subscription is shown', async () => (await ids()).join() === other.body.id);
    await page.getByLabel('Search').fill('');
    await requestJson('DELETE', `${env.broker.adminUrl}/subscriptions/${other.body.id}`);
  });

  it('lists the dead letters, inspects one and redrives one, then all, after the sink is fixed', async () => {
    await open(`subscriptions/${encodeURIComponent(subscriptionId)}/deadletters`, 'Dead letters');
    const rows = page.locator('tr[data-dead-letter]');
    await until('three dead letters are listed', async () => (await rows.count()) === 3);
    const first = rows.filter({ hasText: '(id f-1)' });
    expect(await first.textContent()).toContain('HERALD_SINK_UNAVAILABLE');
    expect(await first.textContent()).toContain('(HTTP 503)');
    expect(await first.locator('td.numeric').nth(1).textContent()).toBe('2');

    await first.getByRole('button', { name: /Inspect/ }).click();
    const detail = page.locator('tr[id^="letter-"] pre.json');
    await detail.waitFor();
    expect(await detail.textContent()).toContain('"id": "f-1"');
    await screenshot(page, 'dead-letters');
    await expectAccessible();

    await env.sink.configure({ status: 200 });
    await env.sink.clear();
    await rows.first().getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Redrive selected (1)' }).click();
    await page.getByText('Redrive finished: 1 of 1 left the dead letters.').waitFor();
    await until('two dead letters remain', async () => (await rows.count()) === 2);
    await screenshot(page, 'dead-letters-redrive');

    await page.getByRole('button', { name: 'Redrive all' }).click();
    await page.getByText('Redrive finished: 2 of 2 left the dead letters.').waitFor();
    await page.getByText('No dead letters.').waitFor();
    const received = await env.sink.waitFor((records) => records.length >= 3);
    expect(received.map((r) => r.headers['ce-id']).sort()).toEqual(['f-1', 'f-2', 'f-3']);

    await open(`subscriptions/${encodeURIComponent(subscriptionId)}`, `Subscription ${subscriptionId}`);
    await page.locator('.details .badge', { hasText: 'active' }).waitFor();
  });

  it('pauses, resumes, seeks and deletes a subscription with confirmation', async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('.details .badge', { hasText: 'paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.details .badge', { hasText: 'active' }).waitFor();

    await env.sink.clear();
    await page.getByLabel('Move the cursor to').selectOption('sequence');
    await page.getByLabel('Sequence').fill('3');
    await page.getByRole('button', { name: 'Seek' }).click();
    await page.getByText('Replaying from 3.').waitFor();
    // Sequences 3, 4 and 5 are f-1, f-2 and f-3 (1 and 2 were published before the subscription).
    const replayed = await env.sink.waitFor((records) => records.length >= 3);
    // Ordering `none` delivers in parallel: the events arrive in any order, so they are compared by sequence.
    expect(inLogOrder(replayed)).toEqual(['f-1', 'f-2', 'f-3']);

    // A time an hour ago, as the browser's datetime-local field takes it (the browser runs in our zone).
    await env.sink.clear();
    const hourAgo = new Date(Date.now() - 3_600_000);
    const local = new Date(hourAgo.getTime() - hourAgo.getTimezoneOffset() * 60_000)
      .toISOString()
      .slice(0, 19);
    await page.getByLabel('Move the cursor to').selectOption('time');
    const timeField = page.getByLabel('Time (local)');
    await timeField.fill(local);
    // The field holds the time as the browser writes it: Chromium drops seconds of ":00" (one run in sixty).
    const shown = await timeField.inputValue();
    expect(new Date(shown).getTime()).toBe(new Date(local).getTime());
    await page.getByRole('button', { name: 'Seek' }).click();
    await page.getByText(`Replaying from ${shown}.`).waitFor();
    const fromTime = await env.sink.waitFor((records) => records.length >= 5);
    expect(inLogOrder(fromTime).slice(0, 5)).toEqual(['o-1', 'o-2', 'f-1', 'f-2', 'f-3']);

    await page.getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this subscription?' });
    await dialog.waitFor();
    await screenshot(page, 'subscription-delete');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await requestJson('GET', `${env.broker.adminUrl}/subscriptions/${subscriptionId}`)).status).toBe(
      200,
    );

    await page.getByRole('button', { name: 'Delete…' }).click();
    await dialog.getByRole('button', { name: 'Delete subscription' }).click();
    await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
    expect((await requestJson('GET', `${env.broker.adminUrl}/subscriptions/${subscriptionId}`)).status).toBe(
      404,
    );
  });

  it('tails events live, pauses and resumes without losing any, and expands one', async () => {
    await open('tail', 'Live tail');
    await page.getByText('Live: new events appear at the top.').waitFor();
    await publish(env.broker.url, { id: 'tail-1', type: 'com.example.tail' });
    const item = (id: string) => page.locator('ol.events li', { hasText: `id ${id}` });
    await item('tail-1').waitFor();

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Paused: resuming continues after the last event shown.').waitFor();
    await publish(env.broker.url, { id: 'tail-2', type: 'com.example.tail' });
    await page.getByRole('button', { name: 'Resume' }).click();
    await item('tail-2').waitFor();

    await item('tail-2').getByRole('button').click();
    expect(await item('tail-2').locator('pre.json').textContent()).toContain('"type": "com.example.tail"');
    await screenshot(page, 'tail');
    await expectAccessible();
  });

  it('applies a CESQL filter and shows a parse error at its position', async () => {
    const filter = page.getByLabel('CESQL filter');
    await filter.fill("type = 'com.example.wanted' AND");
    await page.getByRole('button', { name: 'Apply filter' }).click();
    const error = page.locator('#filter-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('at line 1, column 32');
    expect(await error.locator('pre.caret').textContent()).toBe(
      `type = 'com.example.wanted' AND\n${' '.repeat(31)}^`,
    );
    expect(await filter.getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'tail-invalid-filter');
    await expectAccessible();

    await filter.fill("type = 'com.example.wanted'");
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await page.getByText('Live: new events appear at the top.').waitFor();
    expect(await filter.getAttribute('aria-invalid')).toBeNull();
    await publish(env.broker.url, { id: 'unwanted', type: 'com.example.other' });
    await publish(env.broker.url, { id: 'wanted', type: 'com.example.wanted' });
    await page.locator('ol.events li', { hasText: 'id wanted' }).waitFor();
    expect(await page.locator('ol.events li').count()).toBe(1);
  });

  it('publishes from the form and shows the broker validation messages', async () => {
    await open('publish', 'Publish an event');
    await page.getByLabel('Type', { exact: true }).fill('com.example.form');
    await page.getByLabel('Data', { exact: true }).fill('{"order": 42}');
    await page.getByLabel('Extension attributes').fill('bad_name=1');
    await page.getByRole('button', { name: 'Publish' }).click();
    const problem = page.locator('#publish-problem');
    await problem.waitFor();
    expect(await problem.textContent()).toContain('HERALD_INVALID_ATTRIBUTE_NAME');
    expect(await problem.textContent()).toContain('bad_name');
    expect(await page.getByLabel('Extension attributes').getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'publish-invalid');
    await expectAccessible();

    await page.getByLabel('Extension attributes').fill('partitionkey=customer-42');
    const id = await page.getByLabel('Id', { exact: true }).inputValue();
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.getByText(`Accepted: event ${id} is stored.`).waitFor();
    const log = await requestJson<{ events: Array<{ event: Record<string, unknown> }> }>(
      'GET',
      `${env.broker.adminUrl}/events?filter=${encodeURIComponent("type = 'com.example.form'")}`,
    );
    expect(log.body.events.map((e) => e.event)).toEqual([
      expect.objectContaining({ id, source: '/dashboard', partitionkey: 'customer-42', data: { order: 42 } }),
    ]);
    await screenshot(page, 'publish');
  });

  it('moves between pages with the keyboard and focuses each page heading', async () => {
    await open('', 'Overview');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Live tail' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Live tail' }).waitFor();
    // Focus moves in an effect after the page renders.
    await until(
      'the new page heading has focus',
      async () => (await page.evaluate('document.activeElement?.tagName')) === 'H1',
    );
    expect(await nav.getByRole('link', { name: 'Live tail' }).getAttribute('aria-current')).toBe('page');
    expect(pageErrors).toEqual([]);
  });
});

/**
 * The dashboard's side of authentication (architecture §7) against a real broker started with
 * `--auth tokens` and the security suites' tokens and policy: alice and bob may publish, subscribe and
 * read (their own subscriptions only), reader may only read.
 */
describe('dashboard sign-in against --auth tokens', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-ui-auth-'));
  afterAll(() => removeDir(dir));
  const env = useBrokerAndSink(async () => {
    writeFileSync(path.join(dir, 'tokens.yaml'), tokensFile(TOKENS));
    writeFileSync(path.join(dir, 'policy.yaml'), POLICY);
    const args = ['--auth', 'tokens', '--auth-tokens', path.join(dir, 'tokens.yaml')];
    return startBroker({ args: [...args, '--policy', path.join(dir, 'policy.yaml')] });
  });
  const chromium = useChromium();
  let page: Page;
  /** What the page asked the broker, and with which principal's token (`-` without one). */
  const requests: { path: string; principal: string }[] = [];

  const bearer = (principal: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[principal]}` });

  const createSubscription = async (principal: keyof typeof TOKENS, sinkPath: string): Promise<string> => {
    const response = await fetch(`${env.broker.adminUrl}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(principal) },
      body: JSON.stringify({ protocol: 'HTTP', sink: `${env.sink.url}${sinkPath}` }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as SubscriptionBody).id;
  };

  beforeAll(async () => {
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    page.on('request', (request) => {
      const header = request.headers()['authorization'];
      const principal = Object.entries(TOKENS).find(([, token]) => header === `Bearer ${token}`)?.[0];
      requests.push({ path: new URL(request.url()).pathname, principal: principal ?? '-' });
    });
  });

  it('refuses the API without a token but serves the dashboard files', async () => {
    const stats = await fetch(`${env.broker.adminUrl}/stats`);
    expect(stats.status).toBe(401);
    expect(((await stats.json()) as { code: string }).code).toBe('HERALD_UNAUTHENTICATED');
    const index = await fetch(`${env.broker.adminUrl}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toContain('text/html');
  });

  it('asks for a token on the first 401, retries with it, and keeps it for the tab', async () => {
    await publishBatch(env.broker.url, [{ id: 'auth-1' }], bearer('alice'));
    await page.goto(`${env.broker.adminUrl}/ui/`);
    const dialog = page.getByRole('dialog', { name: 'Sign in' });
    await dialog.getByText('This broker requires a bearer token.').waitFor();
    // The page itself loaded without a token; only API calls were refused.
    expect(requests.filter((r) => r.path.startsWith('/ui/')).every((r) => r.principal === '-')).toBe(true);
    await screenshot(page, 'sign-in');
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
    await dialog.getByLabel('Bearer token').fill(`${TOKENS.alice}-wrong`);
    await dialog.getByRole('button', { name: 'Use token' }).click();
    await dialog.getByText('The broker did not accept the token.').waitFor();
    await dialog.getByLabel('Bearer token').fill(TOKENS.alice);
    await dialog.getByRole('button', { name: 'Use token' }).click();
    const lastSequence = page.locator('.figure', { hasText: 'Last sequence' }).locator('.value');
    await until('the overview shows the log', async () => (await lastSequence.textContent()) === '1');
    expect(await page.evaluate("sessionStorage.getItem('herald.token')")).toBe(TOKENS.alice);
    expect(requests).toEqual(expect.arrayContaining([{ path: '/stats', principal: 'alice' }]));

    // Kept for the tab: a reload needs no new sign-in.
    await page.reload();
    await until('the overview shows the log again', async () => (await lastSequence.textContent()) === '1');
    expect(await dialog.count()).toBe(0);
  });

  it("lists only the signed-in principal's own subscriptions", async () => {
    const [mine, theirs] = await Promise.all([
      createSubscription('alice', '/alice'),
      createSubscription('bob', '/bob'),
    ]);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Subscriptions' }).click();
    await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
    await page.locator(`tr[data-subscription="${mine}"]`).waitFor();
    expect(await page.locator('tbody tr[data-subscription]').count()).toBe(1);
    expect(await page.locator(`tr[data-subscription="${theirs}"]`).count()).toBe(0);
    expect(requests).toEqual(expect.arrayContaining([{ path: '/subscriptions', principal: 'alice' }]));

    // Bob's subscription by its address answers as if it did not exist.
    await page.goto(`${env.broker.adminUrl}/ui/subscriptions/${encodeURIComponent(theirs)}`);
    await page.getByRole('alert').filter({ hasText: 'HERALD_NOT_FOUND' }).waitFor();
    expect(await page.locator('.details').count()).toBe(0);
  });

  it('sends the token on the live tail stream and shows an event published with a token', async () => {
    await page.goto(`${env.broker.adminUrl}/ui/tail`);
    await page.getByText('Live: new events appear at the top.').waitFor();
    expect(requests).toEqual(expect.arrayContaining([{ path: '/events/stream', principal: 'alice' }]));
    await publishBatch(env.broker.url, [{ id: 'auth-2' }], bearer('bob'));
    await page.locator('ol.events li', { hasText: 'id auth-2' }).waitFor();
  });

  it('shows HERALD_FORBIDDEN, not data, on a page the principal may not see', async () => {
    // The tab was reloaded since alice signed in: forgetting her token must still offer to sign in
    // (or, once a request without the token was refused, the dialog is already open).
    await page.getByRole('button', { name: 'Forget token' }).click();
    expect(await page.evaluate("sessionStorage.getItem('herald.token')")).toBeNull();
    const dialog = page.getByRole('dialog', { name: 'Sign in' });
    await page.getByRole('button', { name: 'Sign in' }).or(dialog).first().waitFor();

    // reader may read (/stats) but not subscribe (/subscriptions). A fresh load without a token asks.
    await page.goto(`${env.broker.adminUrl}/ui/subscriptions`);
    await dialog.getByText('This broker requires a bearer token.').waitFor();
    await dialog.getByLabel('Bearer token').fill(TOKENS.reader);
    await dialog.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
    const alert = page.getByRole('alert').filter({ hasText: 'HERALD_FORBIDDEN' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Your token does not allow this.');
    expect(await page.locator('tbody tr[data-subscription]').count()).toBe(0);
    expect(requests).toEqual(expect.arrayContaining([{ path: '/subscriptions', principal: 'reader' }]));
    await screenshot(page, 'forbidden');
  });
});
