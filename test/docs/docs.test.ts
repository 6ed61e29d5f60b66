import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BROKER_OPTIONS } from '../../src/config/index.js';
import { DEFAULT_DELIVERY } from '../../src/subscriptions/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const subscriptionsDoc = readFileSync(new URL('../../docs/subscriptions.md', import.meta.url), 'utf8');

describe('documentation stays in step with the code', () => {
  it('the README configuration table lists every broker option, and no other', () => {
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operations'));
    const documented = [...table.matchAll(/^\|\s*`--([a-z-]+)`\s*\|\s*`(HERALD_[A-Z_]+)`\s*\|/gm)].map(
      (m) => [m[1], m[2]],
    );
    const expected = BROKER_OPTIONS.map((o) => [
      o.name,
      `HERALD_${o.name.toUpperCase().replaceAll('-', '_')}`,
    ]);
    expect(documented).toEqual(expected);
  });

  it('the README layout table names every source folder and every top-level folder', () => {
    const root = new URL('../../', import.meta.url);
    const table = readme.slice(readme.indexOf('## Layout'));
    const named = new Set(
      [...table.matchAll(/^\|([^|]*)\|/gm)].flatMap((row) =>
        [...row[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '')),
      ),
    );
    const ignored = readFileSync(new URL('.gitignore', root), 'utf8')
      .split('\n')
      .filter((line) => /^[\w-]+\/$/.test(line))
      .map((line) => line.slice(0, -1));
    const folders = (at: URL, prefix: string) =>
      readdirSync(at, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !ignored.includes(e.name))
        .map((e) => `${prefix}${e.name}`);
    const expected = [...folders(root, ''), ...folders(new URL('src/', root), 'src/')].filter(
      (folder) => folder !== 'src',
    );
    expect(expected.filter((folder) => !named.has(folder))).toEqual([]);
  });

  it('docs/subscriptions.md documents every delivery field', () => {
    const fields = [...Object.keys(DEFAULT_DELIVERY), 'deadLetterSink', 'rateLimit'];
    for (const field of fields) expect(subscriptionsDoc, field).toContain(`\`delivery.${field}`);
  });
});
