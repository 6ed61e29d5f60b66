/** A real Chromium for the dashboard's browser tests: Debian's `chromium` package driven by playwright-core. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Screenshots of each page, kept as test artifacts (git-ignored). */
export const SCREENSHOT_DIR = path.join(root, 'test-results/ui');

/** The real binary first: Debian's /usr/bin/chromium is a shell wrapper around it. */
const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * Finds Chromium, or throws: these tests fail, never skip, when it is missing (`.ci/run` installs it).
 * `HERALD_CHROMIUM` names another executable.
 */
export function findChromium(): string {
  const given = process.env['HERALD_CHROMIUM'];
  if (given !== undefined && given !== '') {
    if (!existsSync(given)) throw new Error(`HERALD_CHROMIUM=${given} does not exist`);
    return given;
  }
  const found = CANDIDATES.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error(
      `Chromium is missing: the dashboard's browser tests need it. Install Debian's package ` +
        `(apt-get update && apt-get install -y --no-install-recommends chromium) or set HERALD_CHROMIUM ` +
        `to a Chromium executable. Looked for ${CANDIDATES.join(', ')}.`,
    );
  }
  return found;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/**
 * Launches Chromium before the enclosing suite and closes it after. When it cannot start, every test of
 * the suite fails with the reason (an error in `beforeAll` alone would only mark them skipped).
 */
export function useChromium(): { readonly browser: Browser } {
  const context = {} as { browser: Browser };
  let failure: unknown;
  beforeAll(async () => {
    try {
      context.browser = await launchChromium();
    } catch (error) {
      failure = error;
    }
  });
  beforeEach(() => {
    if (failure !== undefined) throw failure;
  });
  afterAll(async () => {
    await context.browser?.close();
  });
  return context;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: ReadonlyArray<{ readonly target: readonly string[] }>;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; answers the serious and critical violations (WCAG 2.x A and AA rules). */
export async function seriousAccessibilityViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol: the dashboard's CSP (rightly) refuses inline scripts.
  await page.evaluate(axeSource);
  // A string, evaluated in the page: this file is type-checked without the DOM library.
  const result = (await page.evaluate(`axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }).then((r) => ({ passes: r.passes.length, violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })),
  })) }))`)) as { passes: number; violations: AxeViolation[] };
  // No passed rule at all would mean axe looked at nothing: never report that as accessible.
  if (result.passes === 0) throw new Error('axe-core checked nothing on this page');
  const violations = result.violations;
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
