import { describe, expect, it } from 'vitest';
import { KeyedSerial } from './keyed-serial.js';

/** A task that records when it started and finishes when told to. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    open,
    task: async () => {
      log.push(`start ${name}`);
      await opened;
      log.push(`end ${name}`);
      return name;
    },
  };
}

describe('KeyedSerial', () => {
  it('starts a task for a key only after the previous one for that key settled', async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    const a1 = gate(log, 'a1');
    const a2 = gate(log, 'a2');
    const b1 = gate(log, 'b1');
    const first = serial.run('a', a1.task);
    const second = serial.run('a', a2.task);
    const other = serial.run('b', b1.task);
    await Promise.resolve();
    await Promise.resolve();
    // Another key runs at once; the second task of 'a' waits for the first.
    expect(log).toEqual(['start a1', 'start b1']);
    a2.open();
    b1.open();
    await other;
    expect(log).not.toContain('start a2');
    a1.open();
    expect(await first).toBe('a1');
    expect(await second).toBe('a2');
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
  });

  it('runs the next task after a failed one, and passes the failure to its own caller only', async () => {
    const serial = new KeyedSerial();
    const failed = serial.run('a', () => Promise.reject(new Error('boom')));
    const next = serial.run('a', () => Promise.resolve('next'));
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe('next');
  });
});
