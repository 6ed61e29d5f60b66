import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ROUTE_TABLE } from '../../src/auth/index.js';
import { BROKER_OPTIONS, brokerHelp } from '../../src/config/index.js';
import { CLI } from '../harness/processes.js';
import { DEFAULT_DELIVERY } from '../../src/subscriptions/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const subscriptionsDoc = readFileSync(new URL('../../docs/subscriptions.md', import.meta.url), 'utf8');
const kubernetesDoc = readFileSync(new URL('../../docs/kubernetes.md', import.meta.url), 'utf8');

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

  it('the README configuration section names every variable of `herald broker --help`, HERALD_CONFIG too', () => {
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operations'));
    const variables = [...brokerHelp().matchAll(/\[(HERALD_[A-Z_]+)/g)].map((m) => m[1]!);
    expect(variables).toContain('HERALD_CONFIG');
    expect(variables.filter((name) => !section.includes(`\`${name}`))).toEqual([]);
  });

  it('docs/kubernetes.md documents every flag and variable of `herald operator --help`', () => {
    const help = execFileSync(process.execPath, [CLI, 'operator', '--help'], { encoding: 'utf8' });
    const options = help.slice(help.indexOf('Options:'), help.indexOf('Examples:'));
    const names = [...options.matchAll(/(--[a-z-]+|HERALD_[A-Z_]+)/g)]
      .map((m) => m[1]!)
      .filter((name) => name !== '--help');
    expect(names.length).toBeGreaterThanOrEqual(6);
    expect(names.filter((name) => !kubernetesDoc.includes(`\`${name}\``))).toEqual([]);
  });

  it('the README names every publishing route', () => {
    const routes = Object.entries(ROUTE_TABLE)
      .filter(([, rule]) => rule.action === 'publish')
      .map(([route]) => route);
    expect(routes).toContain('POST /');
    expect(routes.filter((route) => !readme.includes(`\`${route}\``))).toEqual([]);
  });

  it('docs/subscriptions.md documents every delivery field', () => {
    const fields = [...Object.keys(DEFAULT_DELIVERY), 'deadLetterSink', 'rateLimit'];
    for (const field of fields) expect(subscriptionsDoc, field).toContain(`\`delivery.${field}`);
  });
});
