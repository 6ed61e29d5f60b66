import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './markdown.js';

/** The documentation whose examples the tests run: the README, docs/ and the benchmark's README. */
export const PAGES: readonly string[] = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
  'bench/README.md',
];
