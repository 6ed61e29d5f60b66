import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { subscribe } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { useChromium } from './browser.js';

/** Three LIKE patterns: within the default `--filter-max-like-patterns` (32), over 1. */
const COSTLY = "type LIKE 'a.%' OR type LIKE 'b.%' OR type LIKE 'c.%'";

/**
 * A stored subscription a stricter broker cannot start (status.state `invalid`) delivers nothing: the
 * dashboard must say so as loudly as a failing one (the danger colour, counted on the overview), not in
 * the neutral colour of a paused one, and show why.
 */
describe('dashboard: a stored subscription the broker cannot start', () => {
  let broker: BrokerProcess | undefined;
  let dataDir: string | undefined;
  const chromium = useChromium();
  let page: Page;
  let id: string;

  beforeAll(async () => {
    const loose = await startBroker();
    dataDir = loose.dataDir;
    ({ id } = await subscribe(loose.adminUrl, { sink: 'http://127.0.0.1:9/', filters: [{ sql: COSTLY }] }));
    await loose.stop();
    broker = await startBroker({ dataDir, args: ['--filter-max-like-patterns', '1'] });
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage();
    page.setDefaultTimeout(60_000);
  });
  afterAll(async () => {
    await broker?.stop();
    if (dataDir !== undefined) removeDir(dataDir);
  });

  it('shows it in the danger colour with its reason, counts it on the overview, and offers no pause or seek', async () => {
    if (broker === undefined) throw new Error('no broker');
    await page.goto(`${broker.adminUrl}/ui/`);
    await page.getByText('0 paused, 1 invalid').waitFor();

    await page.goto(`${broker.adminUrl}/ui/subscriptions/${encodeURIComponent(id)}`);
    const badge = page.locator('.details .badge', { hasText: 'invalid' });
    await badge.waitFor();
    await page
      .getByText(/HERALD_FILTER_TOO_COSTLY/)
      .first()
      .waitFor();
    // A string, evaluated in the page: this file is type-checked without the DOM library.
    const colours = (await page.evaluate(`(() => {
      const colourOf = (className) => {
        const probe = document.createElement('span');
        probe.className = className;
        document.body.append(probe);
        return getComputedStyle(probe).color;
      };
      return {
        invalid: getComputedStyle(document.querySelector('.details .badge')).color,
        failing: colourOf('badge state-failing'),
        paused: colourOf('badge state-paused'),
      };
    })()`)) as { invalid: string; failing: string; paused: string };
    expect(colours.paused).not.toBe(colours.failing);
    expect(colours.invalid).toBe(colours.failing);
    // Pausing or seeking it is refused (409): not offered, and the page says what can be done instead.
    await page.getByText('This broker cannot start this subscription within its limits').waitFor();
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Seek' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete…' }).count()).toBe(1);
  });
});
