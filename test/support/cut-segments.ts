import { readdirSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { publishBatch } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';

/** Every segment file of the embedded store under `dir`. */
function segmentFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.seg'))
    .map((name) => path.join(dir, name));
}

/**
 * Publishes two commit groups to `broker` (its embedded store), the second larger than the store keeps in
 * memory (at most its last group, or 64–128 events), then cuts every segment file to nothing under the
 * running broker: a read of the first group's events then reads the segment, and finds no payload.
 */
export async function publishThenCutSegments(broker: BrokerProcess, source: string): Promise<void> {
  for (const [group, count] of [
    ['a', 10],
    ['b', 300],
  ] as const) {
    await publishBatch(
      broker.url,
      Array.from({ length: count }, (_, i) => ({
        id: `${group}-${i}`,
        source,
        type: 'com.example.t',
        data: { i },
      })),
    );
  }
  const files = segmentFiles(broker.dataDir);
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) truncateSync(file, 0);
}
