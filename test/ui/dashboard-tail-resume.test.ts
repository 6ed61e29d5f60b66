import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useBroker } from '../harness/processes.js';
import { publish } from '../harness/client.js';
import { useChromium } from './browser.js';

/**
 * The live tail's promise (docs/dashboard.md): a pause loses nothing, and neither does a reconnect. The
 * stream tells where it started (`id:` before any event), so a tail paused before any event arrived
 * resumes there, not at the events appended since.
 */
describe('dashboard live tail resumed before any event arrived', () => {
  const env = useBroker();
  const chromium = useChromium();
  let page: Page;

  beforeAll(async () => {
    if (chromium.browser === undefined) return;
    page = await chromium.browser.newPage();
    page.setDefaultTimeout(30_000);
  });

  it('shows the events published while it was paused', async () => {
    // An event before the page opens: the tail starts after it ("from now").
    await publish(env.broker.url, { id: 'before-open', type: 'com.example.tail.resume' });
    await page.goto(`${env.broker.adminUrl}/ui/tail`);
    await page.getByText('Live: new events appear at the top.').waitFor();

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Paused: resuming continues after the last event shown.').waitFor();
    await publish(env.broker.url, { id: 'while-paused', type: 'com.example.tail.resume' });
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByText('Live: new events appear at the top.').waitFor();
    // Once an event published after the resume shows, every earlier one the stream sends has shown.
    await publish(env.broker.url, { id: 'after-resume', type: 'com.example.tail.resume' });
    const item = (id: string) => page.locator('ol.events li', { hasText: `id ${id}` });
    await item('after-resume').waitFor();

    const shown = await page.locator('ol.events li').evaluateAll((items) =>
      items.map((li) =>
        [...li.querySelectorAll('span.muted')]
          .map((span) => span.textContent ?? '')
          .find((text) => text.startsWith('id '))
          ?.slice(3),
      ),
    );
    expect(shown).toEqual(['after-resume', 'while-paused']);
  });
});
