import { readFileSync } from 'node:fs';
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

  it('docs/subscriptions.md documents every delivery field', () => {
    const fields = [...Object.keys(DEFAULT_DELIVERY), 'deadLetterSink', 'rateLimit'];
    for (const field of fields) expect(subscriptionsDoc, field).toContain(`\`delivery.${field}`);
  });
});
