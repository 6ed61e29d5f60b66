// Acceptance: another process holding the embedded store's database locked (a backup, an operator's
// sqlite3 shell) makes publishes wait or answer 503 (docs/errors.md, HERALD_STORE_UNAVAILABLE); it never
// ends the broker. A real broker takes events, then a second process takes SQLite's write lock on its
// database: a new event is still acknowledged (its record is in the segment; its index row waits), and
// an event sent again whose first copy is older than the events kept in memory makes the store confirm
// the duplicate from the index, which first commits the waiting row and meets the lock. Once the lock is
// released the broker is SIGKILLed and started again: every acknowledged event is there, once.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { lockDatabase } from '../../src/store/embedded/testing/lock-database.js';
import { readLog, send } from '../support/http.js';

/** More than the store keeps in memory (64 to 128 events): the first ones are read from the index. */
const EARLY = 200;

const brokers: BrokerProcess[] = [];
const releases: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const release of releases) await release();
  for (const broker of brokers) {
    await broker.stop('SIGKILL');
    removeDir(broker.dataDir);
  }
});

async function publish(url: string, id: string): Promise<number> {
  const response = await send(url, {
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id, source: '/herald/locked', type: 't', data: { id } }),
  });
  return response.status;
}

describe('a database another process holds locked', () => {
  it('a duplicate confirmed from the index while the lock is held is answered, and the broker keeps running', async () => {
    const broker = await startBroker({ args: ['--store-writer', 'inline'] });
    brokers.push(broker);
    const acked: string[] = [];
    for (let i = 0; i < EARLY; i++) {
      expect(await publish(broker.url, `e${i}`)).toBe(202);
      acked.push(`e${i}`);
    }

    const release = await lockDatabase(path.join(broker.dataDir, 'default.db'));
    releases.push(release);
    // Its record is written and synced; its index row waits for the lock.
    expect(await publish(broker.url, 'while-locked')).toBe(202);
    acked.push('while-locked');
    // e0 is no longer in memory: confirming the duplicate reads the index.
    const duplicate = await publish(broker.url, 'e0').catch((error: unknown) => `failed: ${String(error)}`);
    expect([202, 503]).toContain(duplicate);
    expect(broker.child.exitCode).toBeNull();
    expect(broker.child.signalCode).toBeNull();

    await release();
    // Taken again once the lock is gone, and still a duplicate.
    expect(await publish(broker.url, 'e0')).toBe(202);
    expect(await publish(broker.url, 'after-lock')).toBe(202);
    acked.push('after-lock');

    expect(await broker.stop('SIGKILL')).toBe('SIGKILL');
    const second = await startBroker({ dataDir: broker.dataDir });
    brokers.push(second);
    const stored = (await readLog(second.adminUrl)).map((entry) => entry.event['id'] as string);
    expect(stored).toEqual(acked);
  });
});
