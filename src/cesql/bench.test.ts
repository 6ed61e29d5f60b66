// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { runCesqlBench } from './bench.js';

describe('runCesqlBench', () => {
  it('measures three expressions against their baselines', () => {
    const rows = runCesqlBench({ durationMs: 5, rounds: 1 });
    expect(rows.map((row) => row.expression)).toHaveLength(3);
    expect(rows[0]?.expression).toBe("type = 'com.example.order.created' AND source LIKE '/shop/%'");
    for (const row of rows) {
      expect(row.evalsPerSecond).toBeGreaterThan(0);
      expect(row.baselinePerSecond).toBeGreaterThan(0);
      expect(row.ratio).toBeCloseTo(row.evalsPerSecond / row.baselinePerSecond);
    }
  });
});
