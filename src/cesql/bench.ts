// SPDX-License-Identifier: Apache-2.0
// Micro-benchmark of compiled CESQL filters against hand-written JavaScript doing the same checks.
// Run as the `cesql` scenario of the benchmark harness: `npm run bench -- --only cesql`.
import { performance } from 'node:perf_hooks';
import { compile } from './compiler.js';
import type { EventAttributes } from './types.js';

export interface CesqlBenchRow {
  readonly expression: string;
  /** `matches` calls per second of the compiled expression. */
  readonly evalsPerSecond: number;
  /** Calls per second of a hand-written function with the same outcome on the same events. */
  readonly baselinePerSecond: number;
  /** `evalsPerSecond / baselinePerSecond`. */
  readonly ratio: number;
}

export interface CesqlBenchOptions {
  /** How long each measurement runs; the best of `rounds` measurements counts. */
  readonly durationMs?: number;
  readonly rounds?: number;
}

interface Case {
  readonly expression: string;
  readonly baseline: (event: EventAttributes) => boolean;
}

const orderTypes = new Set(['com.example.order.created', 'com.example.order.paid']);

const cases: readonly Case[] = [
  {
    expression: "type = 'com.example.order.created' AND source LIKE '/shop/%'",
    baseline: (e) =>
      e.type === 'com.example.order.created' && typeof e.source === 'string' && e.source.startsWith('/shop/'),
  },
  {
    expression: "priority >= 5 AND subject LIKE '%urgent%'",
    baseline: (e) =>
      typeof e.priority === 'number' &&
      e.priority >= 5 &&
      typeof e.subject === 'string' &&
      e.subject.includes('urgent'),
  },
  {
    expression: "type IN ('com.example.order.created', 'com.example.order.paid') AND INT(amount) >= 100",
    baseline: (e) =>
      typeof e.type === 'string' &&
      orderTypes.has(e.type) &&
      typeof e.amount === 'string' &&
      Number.parseInt(e.amount, 10) >= 100,
  },
];

/** Varied events, so neither side is measured on one constant input; about half of them match. */
const events: readonly EventAttributes[] = [
  {
    specversion: '1.0',
    id: '1',
    type: 'com.example.order.created',
    source: '/shop/eu',
    subject: 'urgent: restock',
    priority: 7,
    amount: '250',
  },
  {
    specversion: '1.0',
    id: '2',
    type: 'com.example.order.paid',
    source: '/shop/us',
    subject: 'routine',
    priority: 3,
    amount: '80',
  },
  {
    specversion: '1.0',
    id: '3',
    type: 'com.example.order.created',
    source: '/warehouse/1',
    subject: 'very urgent',
    priority: 9,
    amount: '1200',
  },
  {
    specversion: '1.0',
    id: '4',
    type: 'com.example.user.signup',
    source: '/shop/eu',
    priority: 1,
    amount: '5',
  },
];

/** Calls per second of `check` over the events, measured for about `durationMs`. */
function measure(check: (event: EventAttributes) => boolean, durationMs: number): number {
  const batch = 100_000;
  let calls = 0;
  let matched = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) if (check(events[i & 3] as EventAttributes)) matched++;
    calls += batch;
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);
  // Using the count keeps the loop from being optimised away.
  if (matched > calls) throw new Error('unreachable');
  return (calls / elapsed) * 1000;
}

/**
 * Measures each benchmark expression and its hand-written baseline in the same run, alternating
 * between them and keeping the best round of each.
 *
 * @example
 * ```ts
 * for (const row of runCesqlBench()) console.log(row.expression, Math.round(row.evalsPerSecond));
 * ```
 */
export function runCesqlBench(options: CesqlBenchOptions = {}): CesqlBenchRow[] {
  const durationMs = options.durationMs ?? 250;
  const rounds = options.rounds ?? 3;
  return cases.map(({ expression, baseline }) => {
    const compiled = compile(expression);
    for (const event of events) {
      if (compiled.matches(event) !== baseline(event)) {
        throw new Error(`benchmark baseline disagrees with ${expression} on event ${String(event.id)}`);
      }
    }
    measure(compiled.matches, durationMs / 4);
    measure(baseline, durationMs / 4);
    let evalsPerSecond = 0;
    let baselinePerSecond = 0;
    for (let round = 0; round < rounds; round++) {
      evalsPerSecond = Math.max(evalsPerSecond, measure(compiled.matches, durationMs));
      baselinePerSecond = Math.max(baselinePerSecond, measure(baseline, durationMs));
    }
    return { expression, evalsPerSecond, baselinePerSecond, ratio: evalsPerSecond / baselinePerSecond };
  });
}
