// The documentation is executed, like doctests: every block of README.md, docs/*.md and bench/README.md
// runs as written (see session.ts for how), or carries a marker saying why it cannot run here
// (markdown.ts describes the markers). The YAML manifests are applied to a real API server by
// manifests.test.ts; this file runs everything else and checks that every block is accounted for.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outputMatches, readPage, shapeMatches } from './markdown.js';
import { PAGES } from './pages.js';
import type { DocBlock, DocPage } from './markdown.js';
import { classify, runPage } from './session.js';
import type { PageRun } from './session.js';
import { removeDir } from '../harness/processes.js';

const pages = PAGES.map(readPage);
const runnable = (page: DocPage) =>
  page.directives.some((d) => d.marker['setup'] !== undefined) ||
  page.blocks.some((b) => ['shell', 'background', 'js', 'config'].includes(classify(b).kind));

const base = mkdtempSync(path.join(tmpdir(), 'herald-docs-'));
const runs = new Map<string, Promise<PageRun>>();
const skipped: string[] = [];
const checked = new Map<string, number>();
const count = (what: string) => checked.set(what, (checked.get(what) ?? 0) + 1);

// Three pages at a time (most of a page's time is spent waiting for servers and deliveries), each started
// when its first test asks for it, with the next page started alongside.
let slots = 3;
const waiting: Array<() => void> = [];
const acquire = () =>
  slots > 0 ? (slots--, Promise.resolve()) : new Promise<void>((resolve) => waiting.push(resolve));
const release = () => {
  const next = waiting.shift();
  if (next === undefined) slots++;
  else next();
};
const queue = pages.filter(runnable);

function start(page: DocPage): Promise<PageRun> {
  let run = runs.get(page.file);
  if (run === undefined) {
    const dir = mkdtempSync(path.join(base, `${page.file.replaceAll('/', '_')}-`));
    run = (async () => {
      await acquire();
      try {
        return await runPage(page, { dir, timeoutMs: 120_000 });
      } finally {
        release();
      }
    })();
    run.catch(() => undefined); // reported by the page's tests
    runs.set(page.file, run);
  }
  return run;
}

function pageRun(file: string): Promise<PageRun> {
  const at = queue.findIndex((p) => p.file === file);
  const following = queue[at + 1];
  if (following !== undefined && process.env['DOCS_PAGE'] === undefined) void start(following);
  return start(queue[at]!);
}

afterAll(() => {
  const counts = [...checked].map(([what, n]) => `${n} ${what}`).join(', ');
  console.log(`docs-test: ${counts}; ${skipped.length} blocks skipped:\n${skipped.join('\n')}`);
  // DOCS_KEEP=1 keeps every page's directory (script, transcript, server logs) for a look.
  if (process.env['DOCS_KEEP'] === undefined) removeDir(base);
  else console.log(`docs-test: the pages' directories are in ${base}`);
});

function context(run: PageRun, line: number): string {
  const at = run.transcript.indexOf(`begin ${line}\n`);
  if (at < 0) return `the page stopped before it; its end:\n${run.transcript.slice(-3000)}`;
  return run.transcript.slice(at, at + 3000);
}

/** A step that is not split into commands (a server, a JavaScript program) finished with status 0. */
async function expectStep(page: DocPage, line: number): Promise<void> {
  const run = await pageRun(page.file);
  const result = run.results.get(line);
  expect(result?.rc, `${page.file}:${line}: ${result?.output ?? context(run, line)}`).toBe(0);
}

async function check(page: DocPage, block: DocBlock, index: number): Promise<void> {
  const kind = classify(block);
  count(kind.kind === 'config' && kind.run === undefined ? 'config files written' : `${kind.kind} blocks`);
  switch (kind.kind) {
    case 'unknown':
      throw new Error(`${block.file}:${block.line}: ${kind.why}`);
    case 'skip':
      skipped.push(`  ${block.file}:${block.line}: ${kind.reason}`);
      return;
    case 'manifest':
    case 'kubectl-columns':
      return; // manifests.test.ts
    case 'json':
      expect(JSON.parse(block.text)).toBeDefined();
      return;
    case 'output': {
      const previous = page.blocks.slice(0, index).findLast((b) => classify(b).kind === 'shell');
      const previousKind = previous === undefined ? undefined : classify(previous);
      if (previousKind?.kind !== 'shell') throw new Error('an output block must follow a shell block');
      const command = previousKind.commands.at(-1)!;
      const result = (await pageRun(page.file)).results.get(command.line);
      const where = `${block.file}:${command.line} ${command.text}`;
      expect(result?.rc, where).toBe(command.exit ?? 0);
      if (kind.mode === 'shape')
        expect(shapeMatches(block.text, result!.output), `${where}\n${result!.output}`).toBeUndefined();
      else
        expect(
          outputMatches(block.text, result!.output),
          `${where}\nthe page shows:\n${block.text}\nit printed:\n${result!.output}`,
        ).toBe(true);
      return;
    }
    case 'config':
      if (kind.run !== undefined) await expectStep(page, block.line); // else written for a later block
      return;
    case 'background':
    case 'js':
      await expectStep(page, block.line);
      return;
    case 'shell': {
      const run = await pageRun(page.file);
      for (const command of kind.commands) {
        const where = `${block.file}:${command.line}: ${command.text}`;
        const result = run.results.get(command.line);
        if (result === undefined || result.rc === undefined)
          throw new Error(`${where}\nnever finished:\n${context(run, command.line)}`);
        const ok =
          command.exit !== undefined ? [command.exit] : kind.interrupt === undefined ? [0] : [0, 124];
        expect(ok, `${where}\nexit ${result.rc}:\n${result.output}`).toContain(result.rc);
        const last = result.statuses.at(-1);
        if (command.status !== undefined) expect(last, `${where}\n${result.output}`).toBe(command.status);
        else if (command.output === undefined && last !== undefined && last !== 0)
          expect(last, `${where}\n${result.output}`).toBeLessThan(400);
        if (command.output !== undefined) {
          if (block.marker?.['output'] === 'shape')
            expect(shapeMatches(command.output, result.output), `${where}\n${result.output}`).toBeUndefined();
          else
            expect(
              outputMatches(command.output, result.output),
              `${where}\nthe page shows:\n${command.output}\nit printed:\n${result.output}`,
            ).toBe(true);
        }
      }
      return;
    }
  }
}

for (const page of pages.filter((p) => [undefined, p.file].includes(process.env['DOCS_PAGE']))) {
  describe(page.file, () => {
    for (const { line, marker } of page.directives) {
      const setup = marker['setup'];
      if (typeof setup !== 'string')
        throw new Error(`${page.file}:${line}: a marker without a block needs setup="…"`);
      it(`${page.file}:${line} setup: ${setup}`, () => expectStep(page, line), 180_000);
    }
    page.blocks.forEach((block, index) => {
      it(`${page.file}:${block.line} ${block.language || 'text'}${block.tag ? ` ${block.tag}` : ''}`, async () => {
        await check(page, block, index);
      }, 180_000);
    });
  });
}

describe('docs/cli.md', () => {
  it('shows every command of the command line', () => {
    const script = readPage('docs/cli.md')
      .blocks.filter((b) => classify(b).kind === 'shell')
      .map((b) => b.text)
      .join('\n');
    for (const command of [
      'publish',
      'tail',
      'subscriptions list',
      'subscriptions get',
      'subscriptions create',
      'subscriptions delete',
      'subscriptions pause',
      'subscriptions resume',
      'subscriptions seek',
      'deadletters list',
      'deadletters redrive',
      'match',
      'status',
      'completion',
      'broker',
      'operator',
      'manifests',
      'cesql eval',
    ]) {
      expect(script, command).toContain(`herald ${command}`);
    }
  });
});
