// A broker whose retention (`--retention-max-events 2`) deletes events still inside `--dedupe-window 10m`:
// an event sent again after retention deleted its first copy is acknowledged (202) and not stored a
// second time, and the same after a SIGKILL and a restart on the same data directory. Retention runs
// every 5 s; the test waits until the log shows the deletion (no time is asserted).
import { describe, expect, it } from 'vitest';
import { useRestartedBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { readLog } from '../support/http.js';
import type { LogEntry } from '../support/http.js';

const SOURCE = '/herald/dedupe-after-retention';
const start = useRestartedBroker(['--retention-max-events', '2', '--dedupe-window', '10m']);

async function publish(broker: BrokerProcess, id: string): Promise<number> {
  const response = await fetch(`${broker.url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id, source: SOURCE, type: 't', data: { id } }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** The log once its first event is at `first` or later: retention (every 5 s) has run by then. */
async function logFrom(broker: BrokerProcess, first: number): Promise<LogEntry[]> {
  for (;;) {
    const log = await readLog(broker.adminUrl);
    if ((log[0]?.sequence ?? 0) >= first) return log;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const idsOf = (log: readonly LogEntry[]) => log.map((entry) => entry.event['id'] as string);
const sequenceOf = (log: readonly LogEntry[], id: string) =>
  log.find((entry) => entry.event['id'] === id)?.sequence;

describe('dedupe window after retention deleted the first copy', () => {
  it('acknowledges a re-sent event without storing it again, also after a SIGKILL and a restart', async () => {
    let broker = await start();
    for (const id of ['e0', 'e1', 'e2', 'e3']) expect(await publish(broker, id)).toBe(202);
    expect(idsOf(await logFrom(broker, 3))).toEqual(['e2', 'e3']);

    expect(await publish(broker, 'e0')).toBe(202);
    expect(await publish(broker, 'e4')).toBe(202);
    const log = await readLog(broker.adminUrl);
    // e0 is not stored again: the next new event takes the next sequence after e3's.
    expect(idsOf(log)).not.toContain('e0');
    expect(sequenceOf(log, 'e4')).toBe(5);
    // Retention deletes e2 too before the kill: after the restart e0, e1 and e2 are all deleted ones.
    expect(idsOf(await logFrom(broker, 4))).toEqual(['e3', 'e4']);

    expect(await broker.stop('SIGKILL')).toBe('SIGKILL');
    broker = await start(broker.dataDir);
    for (const id of ['e0', 'e1', 'e2']) expect(await publish(broker, id)).toBe(202);
    expect(await publish(broker, 'e5')).toBe(202);
    const after = await readLog(broker.adminUrl);
    expect(idsOf(after).filter((id) => ['e0', 'e1', 'e2'].includes(id))).toEqual([]);
    expect(sequenceOf(after, 'e5')).toBe(6);
  }, 60_000);
});
