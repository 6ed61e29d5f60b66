import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

/** A bucket on a hand-driven clock (milliseconds). */
function bucket(rate: number, burst?: number) {
  let now = 1_000;
  const b = new TokenBucket(rate, burst, () => now);
  return {
    b,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('TokenBucket', () => {
  it('starts full and allows a burst, then refuses', () => {
    const { b } = bucket(10, 3);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true]);
    expect(b.tryTake()).toBe(false);
  });

  it('defaults the burst to the rate (at least 1)', () => {
    const { b } = bucket(2);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, false]);
    const slow = bucket(0.5).b;
    expect([slow.tryTake(), slow.tryTake()]).toEqual([true, false]);
  });

  it('refills at the rate, never above the burst', () => {
    const { b, advance } = bucket(10, 2);
    b.tryTake(2);
    expect(b.tryTake()).toBe(false);
    advance(100);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    advance(60_000);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, false]);
  });

  it('takes nothing when it refuses', () => {
    const { b, advance } = bucket(1, 1);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    expect(b.tryTake()).toBe(false);
    advance(1_000);
    expect(b.tryTake()).toBe(true);
  });

  it('lets a request larger than the burst through from a full bucket, then owes the difference', () => {
    const { b, advance } = bucket(1, 2);
    expect(b.tryTake(5)).toBe(true);
    advance(2_000);
    expect(b.tryTake()).toBe(false);
    advance(2_000);
    expect(b.tryTake()).toBe(true);
  });

  it('reports the wait until tokens are available', () => {
    const { b, advance } = bucket(2, 1);
    expect(b.waitTime()).toBe(0);
    b.tryTake();
    expect(b.waitTime()).toBeCloseTo(500);
    advance(250);
    expect(b.waitTime()).toBeCloseTo(250);
    advance(250);
    expect(b.waitTime()).toBe(0);
    expect(b.waitTime(10)).toBe(0);
  });
});
