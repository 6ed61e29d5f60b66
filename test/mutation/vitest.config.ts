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
    // The adversarial inputs (10,000-deep nesting, megabyte literals) check resource bounds; instrumented
    // they take seconds per mutant, which would make a CESQL run last hours on two cores.
    exclude: ['src/cesql/bench.test.ts', 'src/cesql/adversarial.test.ts'],
    // Instrumented code on two shared cores is many times slower than the plain run.
    testTimeout: 120_000,
  },
});
