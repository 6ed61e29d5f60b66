import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.js';

describe('LogThrottle', () => {
  it('lets one line per key through per interval and reports how many it stands for', () => {
    let now = 0;
    let suppressed = 0;
    const throttle = new LogThrottle(
      10_000,
      () => suppressed++,
      () => now,
    );
    expect(throttle.take('A')).toBe(0);
    expect(throttle.take('A')).toBeUndefined();
    expect(throttle.take('A')).toBeUndefined();
    // Another code has its own line.
    expect(throttle.take('B')).toBe(0);
    now = 10_000;
    expect(throttle.take('A')).toBe(2);
    expect(throttle.take('A')).toBeUndefined();
    expect(suppressed).toBe(3);
  });

  it('writes every line with an interval of 0', () => {
    const throttle = new LogThrottle(0, () => {
      throw new Error('nothing is suppressed');
    });
    expect([throttle.take('A'), throttle.take('A')]).toEqual([0, 0]);
  });
});
