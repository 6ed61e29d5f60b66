// Mutation testing of the unit-tested modules (`npm run mutate`; not part of `npm test` or CI).
// One module at a time: `HERALD_MUTATE=cesql npm run mutate` (see README "Mutation testing").
const ALL = ['cesql', 'cloudevents', 'filters', 'config'];
const only = process.env.HERALD_MUTATE;
if (only !== undefined && !ALL.includes(only))
  throw new Error(`HERALD_MUTATE must be one of ${ALL.join(', ')}`);
const modules = only === undefined ? ALL : [only];
// Or some files only (comma-separated globs), e.g. HERALD_MUTATE_FILES='src/cesql/like.ts,src/cesql/cast.ts'.
const files = process.env.HERALD_MUTATE_FILES?.split(',').filter((f) => f !== '');
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutation/vitest.config.ts' },
  mutate: [
    ...(files ?? modules.map((module) => `src/${module}/**/*.ts`)),
    '!src/**/*.test.ts',
    '!src/cesql/bench.ts',
    '!src/cesql/testing/**',
  ],
  coverageAnalysis: 'perTest',
  // Two shared cores: more runners only queue.
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `reports/mutation/${files === undefined ? (only ?? 'all') : 'files'}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'dist-bench', 'ui/dist', 'reports', '.stryker-tmp'],
};
