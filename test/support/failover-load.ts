// Publish load and delivery accounting shared by the failover tests of the distributed stores
// (test/jetstream/replicas.test.ts, test/kafka/replicas.test.ts).
import { sleep, structured } from '../harness/client.js';
import type { SinkRecord } from '../harness/processes.js';

export const PATHS = ['/s1', '/s2', '/s3'] as const;
export const LOAD_TYPE = 'com.example.load';

export interface LoadResult {
  offered: number;
  acknowledged: Set<string>;
  /** When each acknowledgement arrived (ms since epoch). */
  acknowledgedAt: number[];
  attempts: number;
  refused: number;
}

export const newLoad = (): LoadResult => ({
  offered: 0,
  acknowledged: new Set(),
  acknowledgedAt: [],
  attempts: 0,
  refused: 0,
});

/**
 * Publishes one event at a time to `urls[0]` at `rate` per second; a refused or failed request is sent
 * again (same id, so the broker deduplicates) to the next URL, a few times. Ids acknowledged with 202
 * are recorded; an id never acknowledged may still have been stored, and may be delivered.
 */
export async function publishLoad(
  prefix: string,
  urls: readonly string[],
  until: number,
  rate: number,
  result: LoadResult,
): Promise<void> {
  for (let n = 0; Date.now() < until; n++) {
    const started = Date.now();
    const id = `${prefix}-${n}`;
    result.offered++;
    const body = JSON.stringify(structured({ id, type: LOAD_TYPE }));
    for (let attempt = 0; attempt < 20; attempt++) {
      const url = urls[attempt % urls.length] as string;
      result.attempts++;
      try {
        const response = await fetch(`${url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        if (response.status === 202) {
          result.acknowledged.add(id);
          result.acknowledgedAt.push(Date.now());
          break;
        }
        result.refused++;
      } catch {
        result.refused++;
      }
      await sleep(200);
    }
    await sleep(Math.max(0, 1000 / rate - (Date.now() - started)));
  }
}

/** The ids each sink path received with a 200, in arrival order (duplicates included). */
export function idsByPath(records: readonly SinkRecord[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>(PATHS.map((p) => [p, []]));
  for (const record of records) {
    if (record.status === 200) byPath.get(record.path)?.push(record.headers['ce-id'] as string);
  }
  return byPath;
}

export const duplicates = (ids: readonly string[]): number => ids.length - new Set(ids).size;

/**
 * Ids delivered under two or more sequences: events stored twice (a publisher's retry after an answer
 * it did not get), as opposed to one stored event delivered twice around a takeover.
 */
export function storedTwice(records: readonly SinkRecord[], path: string): number {
  const sequences = new Map<string, Set<string>>();
  for (const record of records) {
    if (record.status !== 200 || record.path !== path) continue;
    const id = record.headers['ce-id'] as string;
    const seen = sequences.get(id) ?? new Set<string>();
    seen.add(String(record.headers['herald-sequence']));
    sequences.set(id, seen);
  }
  return [...sequences.values()].filter((s) => s.size > 1).length;
}
