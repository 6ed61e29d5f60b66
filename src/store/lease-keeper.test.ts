import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseKeeper } from './lease-keeper.js';
import type { LeaseBackend } from './lease-keeper.js';

/**
 * Leases in a map, as a KV bucket with compare-and-set would keep them: `owner` takes a key only when
 * nobody holds it, renewals carry the revision they were given.
 */
class MapLeases implements LeaseBackend<number> {
  readonly holders = new Map<string, { owner: string; revision: number }>();
  readonly calls: string[] = [];
  private revision = 0;
  constructor(private readonly owner: string) {}
  async acquire(key: string): Promise<number | undefined> {
    this.calls.push(`acquire ${key}`);
    if (this.holders.has(key)) return undefined;
    this.holders.set(key, { owner: this.owner, revision: ++this.revision });
    return this.revision;
  }
  async renew(key: string, lease: number): Promise<number> {
    this.calls.push(`renew ${key}`);
    const held = this.holders.get(key);
    if (held?.owner !== this.owner || held.revision !== lease) throw new Error('wrong revision');
    held.revision = ++this.revision;
    return held.revision;
  }
  async release(key: string, lease: number): Promise<void> {
    this.calls.push(`release ${key}`);
    if (this.holders.get(key)?.revision === lease) this.holders.delete(key);
  }
}

describe('LeaseKeeper', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('renews a held lease every third of the TTL and gives it up on release', async () => {
    const backend = new MapLeases('me');
    const keeper = new LeaseKeeper(backend, 3_000, undefined);
    let lost = 0;
    expect(await keeper.claim('s', () => lost++)).toBe(true);
    // A second claim of a held key is answered from what is held.
    expect(await keeper.claim('s', () => lost++)).toBe(true);
    await vi.advanceTimersByTimeAsync(3_100);
    expect(backend.calls.filter((c) => c === 'renew s')).toHaveLength(3);
    expect(backend.calls.filter((c) => c === 'acquire s')).toHaveLength(1);
    await keeper.release('s');
    expect(backend.holders.has('s')).toBe(false);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(backend.calls.filter((c) => c === 'renew s')).toHaveLength(3);
    expect(lost).toBe(0);
  });

  it('calls the latest onLost once when a renewal fails, and stops renewing', async () => {
    const backend = new MapLeases('me');
    const keeper = new LeaseKeeper(backend, 3_000, undefined);
    const lost: string[] = [];
    await keeper.claim('s', () => lost.push('first'));
    await keeper.claim('s', () => lost.push('second'));
    // Someone else took the key over (the TTL freed it while this process was cut off).
    backend.holders.set('s', { owner: 'other', revision: 99 });
    await vi.advanceTimersByTimeAsync(3_100);
    expect(lost).toEqual(['second']);
    expect(backend.calls.filter((c) => c === 'renew s')).toHaveLength(1);
    // Not held any more: a new claim asks the backend again.
    expect(await keeper.claim('s', () => undefined)).toBe(false);
  });

  it('holds answers by the local clock: a lease that ran out is lost when asked, before any timer ran', async () => {
    const backend = new MapLeases('me');
    const keeper = new LeaseKeeper(backend, 3_000, undefined);
    let lost = 0;
    await keeper.claim('s', () => lost++);
    expect(keeper.holds('s')).toBe(true);
    expect(keeper.holds('other')).toBe(false);
    // The process stalled past the whole TTL and has not run a timer since (a woken process reads its
    // sockets first): asked now, the lease is gone, and onLost said so once.
    vi.setSystemTime(Date.now() + 5_000);
    expect(keeper.holds('s')).toBe(false);
    expect(lost).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lost).toBe(1);
    expect(keeper.holds('s')).toBe(false);
    expect(backend.calls).toEqual(['acquire s']);
  });

  it('loses a lease that ran out before it could be renewed, without asking the backend', async () => {
    const backend = new MapLeases('me');
    const keeper = new LeaseKeeper(backend, 3_000, undefined);
    let lost = 0;
    await keeper.claim('s', () => lost++);
    // The event loop stalled past the whole TTL: another process may hold the key by now.
    vi.setSystemTime(Date.now() + 5_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lost).toBe(1);
    expect(backend.calls).toEqual(['acquire s']);
  });

  it('loses a lease that ran out while a renewal is still waiting for the store to answer', async () => {
    const backend = new MapLeases('me');
    let renewals = 0;
    const silent: LeaseBackend<number> = {
      acquire: (key) => backend.acquire(key),
      // The store took the request and never answers (a partitioned connection, a stalled follower).
      renew: () => {
        renewals++;
        return new Promise<number>(() => undefined);
      },
      release: (key, lease) => backend.release(key, lease),
    };
    const keeper = new LeaseKeeper(silent, 3_000, undefined);
    let lost = 0;
    await keeper.claim('s', () => lost++);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(renewals).toBe(1);
    // Well past the TTL: another process may hold the key, so this one must have stopped.
    await vi.advanceTimersByTimeAsync(4_000);
    expect(lost).toBe(1);
    expect(await keeper.claim('s', () => undefined)).toBe(false);
  });

  it('answers false when the backend fails or after close, and releases everything on close', async () => {
    const backend = new MapLeases('me');
    const failing: LeaseBackend<number> = {
      acquire: () => Promise.reject(new Error('away')),
      renew: (key, lease) => backend.renew(key, lease),
      release: (key, lease) => backend.release(key, lease),
    };
    const keeper = new LeaseKeeper(failing, 3_000, undefined);
    expect(await keeper.claim('x', () => undefined)).toBe(false);
    const working = new LeaseKeeper(backend, 3_000, undefined);
    await working.claim('a', () => undefined);
    await working.claim('b', () => undefined);
    await working.close();
    expect([...backend.holders.keys()]).toEqual([]);
    expect(await working.claim('c', () => undefined)).toBe(false);
  });
});
