import { defineConfig } from 'vitest/config';

/**
 * The unit tests that sit beside the modules Stryker mutates (`npm run mutate`): no processes, no
 * servers, so each mutant runs in milliseconds.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: [
      'src/cesql/**/*.test.ts',
      'src/cloudevents/**/*.test.ts',
      'src/filters/**/*.test.ts',
      'src/config/**/*.test.ts',
    ],
    // The micro-benchmark's smoke test measures speed, not behaviour: a mutant cannot be judged by it.
    exclude: ['src/cesql/bench.test.ts'],
    testTimeout: 30_000,
  },
});
