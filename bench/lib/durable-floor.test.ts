// SPDX-License-Identifier: Apache-2.0
// (a)'s durable floor against real requests over loopback: what it answers 202 is in its file, in the
// ring it writes round; what is not JSON is refused and not written.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDurableFloor } from './durable-floor.js';

/** Small, so the test can fill it and see the floor go round. */
const RING = 4096;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

async function floor(): Promise<{ url: string; file: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-floor-test-'));
  const file = path.join(dir, 'log');
  const server: Server = createDurableFloor(file, RING);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, file };
}

describe('durable floor', () => {
  it('has every body it answered 202 on disk, and refuses and skips what is not JSON', async () => {
    const { url, file } = await floor();
    const bodies = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `e${i}`, data: 'x'.repeat(i) }));
    const statuses = await Promise.all(
      [...bodies, 'not json'].map(async (body) => (await fetch(url, { method: 'POST', body })).status),
    );
    expect(statuses).toEqual([...bodies.map(() => 202), 400]);
    const contents = readFileSync(file);
    expect(contents.length).toBe(RING);
    const written = contents.toString('utf8').replace(/\0+$/, '');
    expect(written.length).toBe(bodies.reduce((sum, b) => sum + b.length, 0));
    for (const body of bodies) expect(written).toContain(body);
    expect(written).not.toContain('not json');
  });

  it('goes round its ring: a group that does not fit before the end is written at the start', async () => {
    const { url, file } = await floor();
    const bodies = Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({ id: `e${i}`, data: String(i).repeat(980) }),
    );
    for (const body of bodies) expect((await fetch(url, { method: 'POST', body })).status).toBe(202);
    const contents = readFileSync(file, 'utf8');
    expect(contents.length).toBe(RING);
    // Four fit (4 × 1,000 bytes); the fifth would pass 4,096, so it and the sixth start the ring again.
    expect(contents.startsWith(`${bodies[4]}${bodies[5]}${bodies[2]}${bodies[3]}`)).toBe(true);
  });
});
