// SPDX-License-Identifier: Apache-2.0
// The CESQL micro-benchmark (src/cesql/bench.ts, formerly bench/cesql.mjs): compiled filter
// evaluations per second next to hand-written JavaScript doing the same checks, in this process.
import { runCesqlBench } from '../../src/cesql/bench.js';
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';

export const cesqlScenario: Scenario = {
  id: 'cesql',
  title: 'CESQL filter evaluation (micro-benchmark, one thread)',
  run(context) {
    const out = output();
    const durationMs = context.mode === 'quick' ? 100 : 250;
    for (const row of runCesqlBench({ durationMs, rounds: 3 })) {
      out.rows.push({
        scenario: 'cesql',
        name: `\`${row.expression}\``,
        value: row.evalsPerSecond,
        unit: 'evals/s',
        baseline: { name: 'hand-written JS', value: row.baselinePerSecond, unit: 'evals/s' },
        data: { ...row },
      });
    }
    out.notes.push(
      `CESQL: best of 3 rounds of ${durationMs} ms per expression; no target, ratio is CESQL ÷ hand-written JS.`,
    );
    return Promise.resolve(out);
  },
};
