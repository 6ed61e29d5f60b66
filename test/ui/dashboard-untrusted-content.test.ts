import { describe, expect, it, beforeAll } from 'vitest';
import type { Page } from 'playwright-core';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import { subscribe } from '../harness/client.js';
import { until, useChromium } from './browser.js';

/**
 * Markup an untrusted publisher (or a principal that may only subscribe) puts into what the dashboard
 * shows an operator. Rendered as HTML it leaves a `.pwn-marker` element in the page, whatever the
 * content security policy does; should the policy fail as well, the handler sets `window.__pwned`.
 */
const MARKUP = '<b class="pwn-marker">x</b><img class="pwn-marker" src="x" onerror="window.__pwned=1">';
const SCRIPT_URL = 'javascript:window.__pwned=1';

/** Published by a stranger: every attribute, an extension and `data` in each of its three forms. */
function hostileEvents(): Record<string, unknown>[] {
  const common = {
    specversion: '1.0',
    type: MARKUP,
    subject: MARKUP,
    source: `${SCRIPT_URL}//x`,
    dataschema: SCRIPT_URL,
    time: '2026-01-01T00:00:00Z',
    xss: MARKUP,
  };
  return [
    { ...common, id: `${MARKUP}-json`, datacontenttype: 'application/json', data: { html: MARKUP } },
    { ...common, id: `${MARKUP}-text`, datacontenttype: 'text/html', data: MARKUP },
    {
      ...common,
      id: `${MARKUP}-base64`,
      datacontenttype: 'text/html',
      data_base64: Buffer.from(MARKUP).toString('base64'),
    },
  ];
}

async function publishStructured(brokerUrl: string, event: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${brokerUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify(event),
  });
  expect(response.status, await response.text()).toBe(202);
}

/**
 * Stored XSS (architecture §9; docs/security.md): the dashboard is an `admin`'s view of content from
 * publishers and subscribers it does not trust. Every page that shows that content must show it as text.
 */
describe('dashboard with untrusted content in Chromium', () => {
  const env = useBrokerAndSink(() =>
    startBroker({
      args: ['--delivery-defaults', '{"retry":1,"backoffDelay":"PT0.05S","backoffMax":"PT0.1S"}'],
    }),
  );
  const chromium = useChromium();
  let page: Page;
  const dialogs: string[] = [];

  beforeAll(async () => {
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // Through the DevTools protocol, so the page's policy does not block it: a refused inline script or
    // handler is reported here, which means markup reached the DOM even though nothing ran.
    await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => {
      (window.__violations ??= []).push(e.violatedDirective + ' ' + (e.sample || e.blockedURI));
    });`);
  });

  /** Nothing the strangers wrote became an element, a script URL, a dialog or a script run. */
  const expectNothingInjected = async (where: string) => {
    const found = (await page.evaluate(`({
      markers: document.querySelectorAll('.pwn-marker, img[src="x"]').length,
      scriptLinks: [...document.querySelectorAll('[href], [src], [action], [formaction]')]
        .map((e) => e.getAttribute('href') ?? e.getAttribute('src') ?? e.getAttribute('action') ?? e.getAttribute('formaction'))
        .filter((url) => /^\\s*javascript:/i.test(url ?? '')),
      pwned: window.__pwned ?? null,
      violations: window.__violations ?? [],
    })`)) as { markers: number; scriptLinks: string[]; pwned: unknown; violations: string[] };
    expect(found, where).toEqual({ markers: 0, scriptLinks: [], pwned: null, violations: [] });
    expect(dialogs, where).toEqual([]);
  };

  const open = async (path: string, heading: string | RegExp) => {
    await page.goto(`${env.broker.adminUrl}/ui/${path}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };

  let subscriptionId: string;

  it('shows hostile events in the live tail as text', async () => {
    await env.sink.configure({ status: 503 });
    // A subscriber's own settings are untrusted too: its types, filters and sink URL.
    const created = await subscribe(env.broker.adminUrl, {
      sink: `${env.sink.url}/x?q="${MARKUP}`,
      types: [MARKUP],
      filters: [
        { exact: { subject: MARKUP } },
        { prefix: { type: MARKUP } },
        { sql: `subject = '${MARKUP}'` },
      ],
    });
    subscriptionId = created.id;

    await open('tail', 'Live tail');
    await page.getByText('Live: new events appear at the top.').waitFor();
    for (const event of hostileEvents()) await publishStructured(env.broker.url, event);
    const items = page.locator('ol.events li');
    await until('three events are shown', async () => (await items.count()) === 3);
    for (let i = 0; i < 3; i++) await items.nth(i).locator('button.event-summary').click();
    await until(
      'three events are expanded',
      async () => (await page.locator('ol.events pre.json').count()) === 3,
    );
    // The markup is there, as text.
    expect(await items.first().textContent()).toContain(MARKUP);
    await expectNothingInjected('live tail');
  });

  it('shows hostile subscriptions and dead letters as text on every page', async () => {
    await open('', 'Overview');
    await page.locator('.figure', { hasText: 'Last sequence' }).waitFor();
    await expectNothingInjected('overview');

    await open('subscriptions', 'Subscriptions');
    const row = page.locator(`tr[data-subscription="${subscriptionId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain(MARKUP);
    await expectNothingInjected('subscriptions');

    await open(`subscriptions/${encodeURIComponent(subscriptionId)}`, /^Subscription /);
    await page.locator('.details').waitFor();
    await page.getByText('Full resource').click();
    expect(await page.locator('pre.json').textContent()).toContain('pwn-marker');
    await expectNothingInjected('subscription');

    await open(`subscriptions/${encodeURIComponent(subscriptionId)}/deadletters`, 'Dead letters');
    const rows = page.locator('tr[data-dead-letter]');
    await until('three dead letters are listed', async () => (await rows.count()) === 3);
    for (let i = 0; i < 3; i++) {
      await rows
        .nth(i)
        .getByRole('button', { name: /Inspect/ })
        .click();
      await page.locator('tr[id^="letter-"] pre.json').waitFor();
      await expectNothingInjected(`dead letter ${i + 1}`);
    }
    expect(await rows.first().textContent()).toContain(MARKUP);
  });

  it('shows a hostile page path as text', async () => {
    await open(`${encodeURIComponent('<b class="pwn-marker">x<b>')}`, 'Not found');
    await expectNothingInjected('not found');
  });
});
