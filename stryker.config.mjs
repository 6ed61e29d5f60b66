// Mutation testing of the unit-tested modules (`npm run mutate`; not part of `npm test` or CI).
// One module at a time: `HERALD_MUTATE=cesql npm run mutate` (see README "Mutation testing").
const ALL = ['cesql', 'cloudevents', 'filters', 'config'];
const only = process.env.HERALD_MUTATE;
if (only !== undefined && !ALL.includes(only))
  throw new Error(`HERALD_MUTATE must be one of ${ALL.join(', ')}`);
const modules = only === undefined ? ALL : [only];
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutation/vitest.config.ts' },
  mutate: [
    ...modules.map((module) => `src/${module}/**/*.ts`),
    '!src/**/*.test.ts',
    '!src/cesql/bench.ts',
    '!src/cesql/testing/**',
  ],
  coverageAnalysis: 'perTest',
  // Two shared cores: more runners only queue.
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `reports/mutation/${only ?? 'all'}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'dist-bench', 'ui/dist', 'reports', '.stryker-tmp'],
};
