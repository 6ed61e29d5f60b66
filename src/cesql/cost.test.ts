// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../testing/thrown.js';
import { CesqlCostError, CesqlParseError, compile } from './index.js';

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
    expect(filter.lastCost()).toBe(12);
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
    expect(filter.matches(event('Q'.repeat(900_000)))).toBe(false);
    expect(filter.exceededBudget()).toBe(true);
    // One LOWER fits the budget; the LIKE that follows would not, so it never runs.
    expect(filter.lastCost()).toBe(1_800_000);
    // Without a budget the same evaluation runs every leaf to the end.
    expect(compile(leaves).matches(event('a qq'))).toBe(true);
  });
});
