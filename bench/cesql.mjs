// SPDX-License-Identifier: Apache-2.0
// CESQL micro-benchmark: evaluations per second of compiled filters next to hand-written
// JavaScript doing the same checks. Usage: npm run build && node bench/cesql.mjs [durationMs]
let runCesqlBench;
try {
  ({ runCesqlBench } = await import('../dist/cesql/bench.js'));
} catch (error) {
  console.error(
    `bench/cesql.mjs: cannot load dist/cesql/bench.js (run npm run build first): ${error.message}`,
  );
  process.exit(1);
}

const durationMs = Number(process.argv[2] ?? 250);
const format = (n) => Math.round(n).toLocaleString('en-US');

console.log(
  `CESQL micro-benchmark, Node ${process.version}, best of 3 rounds of ${durationMs} ms, one thread\n`,
);
console.log('| expression | CESQL evals/s | hand-written JS evals/s | CESQL / JS |');
console.log('|---|--:|--:|--:|');
for (const row of runCesqlBench({ durationMs })) {
  console.log(
    `| \`${row.expression}\` | ${format(row.evalsPerSecond)} | ${format(row.baselinePerSecond)} | ${row.ratio.toFixed(2)} |`,
  );
}
