import { EventEmitter } from 'node:events';
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../observability/index.js';
import { replacingMergePatch, restartWatchOnError } from './client.js';

/** An informer that counts its starts; its watch fails when the test emits `error`. */
function countingInformer(): {
  informer: Informer<KubernetesObject>;
  events: EventEmitter;
  starts: () => number;
} {
  const events = new EventEmitter();
  let starts = 0;
  const informer = {
    on: (event: string, listener: (...args: unknown[]) => void) => events.on(event, listener),
    start: () => {
      starts++;
      return Promise.resolve();
    },
    stop: () => Promise.resolve(),
  } as unknown as Informer<KubernetesObject>;
  return { informer, events, starts: () => starts };
}

describe('restartWatchOnError', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const logger = createLogger('silent');

  it('starts a failed watch again after 2 s, each time it fails', () => {
    const { informer, events, starts } = countingInformer();
    restartWatchOnError(informer, 'test', logger, () => false);
    events.emit('error', new Error('429'));
    vi.advanceTimersByTime(1_999);
    expect(starts()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(starts()).toBe(1);
    events.emit('error', new Error('gone'));
    vi.advanceTimersByTime(2_000);
    expect(starts()).toBe(2);
  });

  it('does not start it again when the owner stopped before the restart was due (it would outlive the broker)', () => {
    const { informer, events, starts } = countingInformer();
    let stopped = false;
    restartWatchOnError(informer, 'test', logger, () => stopped);
    events.emit('error', new Error('429'));
    stopped = true;
    vi.advanceTimersByTime(10_000);
    expect(starts()).toBe(0);
    // Nor after a failure reported once stopped.
    events.emit('error', new Error('closed'));
    vi.advanceTimersByTime(10_000);
    expect(starts()).toBe(0);
  });
});

describe('replacingMergePatch', () => {
  it('names every member the desired object lacks with null, nested objects too', () => {
    const current = {
      sink: 'http://a/',
      types: ['t1', 't2'],
      filters: [{ exact: { type: 't1' } }],
      delivery: { retry: 3, ordering: 'strict', batch: { maxEvents: 10 } },
    };
    const desired = { sink: 'http://b/', types: ['t1'], delivery: { retry: 3 } };
    expect(replacingMergePatch(current, desired)).toEqual({
      sink: 'http://b/',
      types: ['t1'],
      filters: null,
      delivery: { retry: 3, ordering: null, batch: null },
    });
  });

  it('is the desired object itself when there is nothing to remove', () => {
    expect(replacingMergePatch(undefined, { sink: 'http://a/', delivery: { retry: 1 } })).toEqual({
      sink: 'http://a/',
      delivery: { retry: 1 },
    });
  });
});
