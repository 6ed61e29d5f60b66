import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { sampleEvent } from '../testing/conformance.js';
import type { StoredEvent } from '../types.js';
import { RecentAppends } from './recent-appends.js';

const NO_LIMITS = { maxAgeMs: 0, maxEvents: 0, maxBytes: 0 };

function stored(sequence: number): StoredEvent {
  return { sequence, storedAt: Date.now(), event: sampleEvent(`e${sequence}`), trace: undefined };
}

describe('recent appends', () => {
  it('serves the newest appends in order, and nothing it no longer holds', () => {
    const recent = new RecentAppends(NO_LIMITS);
    for (let sequence = 1; sequence <= 1000; sequence++) recent.add(stored(sequence), 100);
    expect(recent.page(990, 20, 1000).map((e) => e.sequence)).toEqual([
      990, 991, 992, 993, 994, 995, 996, 997, 998, 999, 1000,
    ]);
    expect(recent.page(1, 20, 1000)).toEqual([]);
  });

  it('lets go of older appends, so that they die young instead of filling the old generation', async () => {
    v8.setFlagsFromString('--expose-gc');
    const collect = vm.runInNewContext('gc') as () => void;
    const recent = new RecentAppends(NO_LIMITS);
    const refs: WeakRef<object>[] = [];
    for (let sequence = 1; sequence <= 2000; sequence++) {
      const event = stored(sequence);
      refs.push(new WeakRef(event));
      recent.add(event, 100);
    }
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    await new Promise((resolve) => setImmediate(resolve));
    const alive = refs.filter((ref) => ref.deref() !== undefined).length;
    expect(alive).toBeGreaterThan(0);
    expect(alive).toBeLessThanOrEqual(128);
  });
});
