// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../testing/thrown.js';
import { CesqlCostError, CesqlParseError, compile } from './index.js';

/** Tests never assert on time: a quadratic blow-up takes minutes, and this timeout is what catches it. */
const BLOW_UP_TIMEOUT_MS = 30_000;
const limits = { maxNodes: 50, maxLikePatterns: 3, maxCallDepth: 2 };
const event = (subject: string) => ({ specversion: '1.0', id: '1', source: '/s', type: 't', subject });

describe('compile-time cost bounds', () => {
  it('refuses an expression over each bound, naming the bound and where it was crossed', () => {
    const likes = "subject LIKE 'a%' OR subject LIKE 'b%' OR subject LIKE 'c%' OR subject LIKE 'd%'";
    const tooManyLikes = thrownBy(() => compile(likes, { limits }));
    expect(tooManyLikes).toBeInstanceOf(CesqlCostError);
    expect(tooManyLikes).toBeInstanceOf(CesqlParseError);
    expect(tooManyLikes).toMatchObject({ limit: 'likePatterns', position: { line: 1, column: 72 } });
    expect(thrownBy(() => compile('LOWER(UPPER(LOWER(subject))) = 1', { limits }))).toMatchObject({
      limit: 'callDepth',
    });
    const wide = Array.from({ length: 30 }, (_, i) => `id = '${i}'`).join(' OR ');
    expect(thrownBy(() => compile(wide, { limits }))).toMatchObject({ limit: 'nodes' });
    // Within the bounds, and without any, the same expressions compile.
    expect(() => compile("subject LIKE 'a%' OR LOWER(UPPER(subject)) = 'x'", { limits })).not.toThrow();
    expect(() => compile(wide)).not.toThrow();
  });
});

describe('evaluation budget', () => {
  it('stops an evaluation over its budget: no match, a generic error, and exceededBudget()', () => {
    const filter = compile("LOWER(subject) LIKE '%qq%'", { budget: 1000 });
    expect(filter.matches(event('a qq b'))).toBe(true);
    expect(filter.exceededBudget()).toBe(false);
    // LOWER builds 6 characters; the LIKE takes 6 steps (4 to find `qq`, 2 to compare it) of 4 units each.
    expect(filter.lastCost()).toBe(30);
    const huge = event(`${'x'.repeat(900)}qq`);
    expect(filter.matches(huge)).toBe(false);
    expect(filter.exceededBudget()).toBe(true);
    const result = filter.evaluate(huge);
    expect(result.value).toBe(false);
    expect(result.errors).toMatchObject([{ kind: 'generic', position: { column: 16 } }]);
    // The budget is per evaluation: the next small event matches again.
    expect(filter.matches(event('qq'))).toBe(true);
    expect(filter.exceededBudget()).toBe(false);
  });

  it('bounds the work of many costly leaves over a huge value by the budget, not by the expression', () => {
    const leaves = Array.from({ length: 200 }, () => "LOWER(subject) LIKE '%qq%'").join(' OR ');
    const filter = compile(leaves, { budget: 1_000_000 });
    expect(filter.matches(event('QX'.repeat(450_000)))).toBe(false);
    expect(filter.exceededBudget()).toBe(true);
    // One LOWER fits the budget; the LIKE that follows stops at it, and no other leaf runs.
    expect(filter.lastCost()).toBeGreaterThan(1_000_000);
    expect(filter.lastCost()).toBeLessThan(1_100_000);
    // Without a budget the same evaluation runs every leaf to the end.
    expect(compile(leaves).matches(event('a qq'))).toBe(true);
  });
});

describe('LIKE work against the budget', () => {
  // Matching a pattern segment mixing literals and `_` tries it at every start position: its work is the
  // text's length times the segment's, not the text's length alone. Charged the text's length only, a
  // 20,000-character subject under an 8,000-character pattern did 80 million steps on a budget of 1 million.
  const subject = 'a'.repeat(20_000);

  it('charges what a segment with _ does at every start, and stops it at the budget', () => {
    const filter = compile(`subject LIKE '%${'a_'.repeat(4000)}b%'`, { budget: 1_000_000 });
    expect(filter.matches(event(subject))).toBe(false);
    expect(filter.exceededBudget()).toBe(true);
    expect(filter.lastCost()).toBeGreaterThan(1_000_000);
    // Unbounded, the same pattern still matches where it should, and a short text stays cheap.
    expect(compile(`subject LIKE '%${'a_'.repeat(4000)}b%'`).matches(event(`${'ax'.repeat(4000)}b`))).toBe(
      true,
    );
    expect(filter.matches(event('ab'))).toBe(false);
    expect(filter.exceededBudget()).toBe(false);
  });

  it('charges every text unit the search for a literal between % compares, not the text once', () => {
    // Knuth–Morris–Pratt finds `a…ab` (100 a) nowhere in n a's by comparing the first 100 units once and
    // every later one twice (with `b`, then with the `a` it falls back to): 2n − 100 comparisons. Charged
    // the text's length alone, n, the search did twice what the budget counted and each comparison cost
    // ~100 characters of LOWER (/tmp/s38/like-bench.mjs): 200,000 characters of subject stayed within a
    // budget of 1,000,000 while the LIKE did the work of tens of millions.
    const n = 200_000;
    const pattern = `subject LIKE '%${'a'.repeat(100)}b_%'`;
    const filter = compile(pattern, { budget: 1_000_000 });
    expect(filter.matches(event('a'.repeat(n)))).toBe(false);
    expect(filter.lastCost()).toBeGreaterThanOrEqual(2 * n - 100);
    expect(filter.exceededBudget()).toBe(true);
    // Unbounded, the same pattern matches where it should.
    expect(compile(pattern).matches(event(`${'a'.repeat(n)}bc`))).toBe(true);
  });

  it('charges a step of the matcher as more than one character of LOWER', () => {
    // At each of the 20,000 start positions the segment's 20 elements match and `b` does not: 21
    // comparisons each, 420,000 in all. Each comparison, a literal or `_` element once, cost 20–70 ns,
    // 50–500 characters of LOWER (0.15–0.4 ns each); charged one unit each, the 420,000 fit a budget of
    // 1,000,000 that bounds LOWER to ~0.4 ms and let this LIKE run for ~20 ms per event.
    const filter = compile(`subject LIKE '%${'a_'.repeat(10)}b%'`, { budget: 1_000_000 });
    expect(filter.matches(event('a'.repeat(20_000)))).toBe(false);
    expect(filter.exceededBudget()).toBe(true);
    expect(filter.lastCost()).toBeGreaterThan(1_000_000);
    // A text with what it looks for matches within the same budget.
    expect(filter.matches(event(`${'a'.repeat(100)}${'ax'.repeat(10)}b`))).toBe(true);
  });

  it(
    'finds a long literal between % in time linear in the text (the test timeout is the bound)',
    () => {
      // V8's own substring search takes about text × literal / 2 steps for this literal on this text:
      // seconds per evaluation. Knuth–Morris–Pratt takes at most two steps a unit (1.8 million, 7.2
      // million units: within this budget). Twenty evaluations must end well within the timeout, which
      // the quadratic search takes minutes to do.
      const literal = `${'a'.repeat(4000)}b${'a'.repeat(4000)}`;
      const filter = compile(`subject LIKE '%${literal}%'`, { budget: 8_000_000 });
      const huge = event('a'.repeat(900_000));
      for (let i = 0; i < 20; i++) {
        expect(filter.matches(huge)).toBe(false);
        expect(filter.exceededBudget()).toBe(false);
      }
      expect(filter.matches(event(`x${literal}x`))).toBe(true);
    },
    BLOW_UP_TIMEOUT_MS,
  );
});
