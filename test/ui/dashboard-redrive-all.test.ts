import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { waitForStatus } from '../harness/client.js';
import { DEAD_LETTER_PAGE, deadLettersPastOnePage } from '../harness/dead-letter-pages.js';
import { until, useChromium } from './browser.js';

const PAGE = DEAD_LETTER_PAGE;
const TYPE = 'com.example.ui.redrive.pages';

/**
 * "Redrive all" on the dead-letters page with more letters than one page of the API: its progress must
 * count every letter the broker redrives, not only the first page's (which would show the redrive finished
 * while letters past that page are still being delivered).
 */
describe('dashboard: Redrive all over more than one page of dead letters', () => {
  let broker: BrokerProcess;
  let sink: SinkProcess;
  const chromium = useChromium();
  let page: Page;

  beforeAll(async () => {
    // Kept without bound: the default (10,000 per subscription) is exactly one page.
    [broker, sink] = await Promise.all([
      startBroker({ args: ['--dead-letter-max-letters', '0'] }),
      startSink(),
    ]);
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage();
    page.setDefaultTimeout(60_000);
  });
  afterAll(async () => {
    await sink?.release();
    await Promise.all([broker?.stop(), sink?.stop()]);
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('counts the letters past the first page', { timeout: 600_000 }, async () => {
    const subscription = await deadLettersPastOnePage(broker, sink, TYPE);

    // Redriven last (one at a time, in id order) and held at the sink until released.
    await sink.configure({ status: 200, holdFirstById: ['late'] });
    await page.goto(`${broker.adminUrl}/ui/subscriptions/${encodeURIComponent(subscription.id)}/deadletters`);
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();
    await page.locator('tr[data-dead-letter]').first().waitFor();
    await page.getByRole('button', { name: 'Redrive all' }).click();

    await until('the last letter is at the sink', async () => (await sink.inFlight()) === 1, 480_000);
    // The progress was sized when the redrive was handed over, long before this letter's turn.
    expect(await page.locator('#redrive-progress').getAttribute('max')).toBe(String(PAGE + 1));

    await sink.release();
    await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === 0, 60_000);
  });
});
