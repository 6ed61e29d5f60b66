// Acceptance: SIGKILL while retention deletes and segments roll over. A broker with a small byte retention
// takes events of 4 KB from several publishers at once, so that segments roll over, retention (every 5 s)
// cuts through blocks, rewrites them and deletes segment files, while group commits go on; it is
// SIGKILLed in the middle of that, three times over on the same data directory. After each restart the
// log must be one unbroken run of sequences (an event lost inside what retention keeps would leave a gap),
// hold no event twice and nothing never sent, hold the last events acknowledged, and go on from a higher
// sequence.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { useRestartedBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { readLog } from '../support/http.js';

const CLIENTS = 4;
const DATA = 'r'.repeat(4 * 1024);
/** Small enough that retention deletes on every run, larger than the last acknowledged events checked. */
const RETENTION_BYTES = 2 * 1024 * 1024;
/** The last acknowledged events that must all be kept (~0.4 MB: far inside the retention). */
const RECENT = 100;
/** Publishing time before each SIGKILL: past at least one retention run (every 5 s). */
const KILL_AFTER_MS = [6_500, 7_300, 8_100];

const start = useRestartedBroker(['--retention-max-bytes', String(RETENTION_BYTES)]);

/** Publishes from `CLIENTS` publishers until the broker is killed after `killAfterMs`; the ids acknowledged, in order. */
async function publishUntilKilled(
  broker: BrokerProcess,
  round: number,
  killAfterMs: number,
): Promise<{ acked: string[]; sent: Set<string> }> {
  const agent = new Agent({ connections: CLIENTS });
  const acked: string[] = [];
  const sent = new Set<string>();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    broker.child.kill('SIGKILL');
  }, killAfterMs);
  const client = async (c: number) => {
    for (let i = 0; !killed; i++) {
      const id = `r${round}-c${c}-${i}`;
      sent.add(id);
      try {
        const response = await request(`${broker.url}/events`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/cloudevents+json' },
          body: JSON.stringify({
            specversion: '1.0',
            id,
            source: '/herald/retention-kill',
            type: 't',
            data: DATA,
          }),
        });
        await response.body.text();
        if (response.statusCode === 202) acked.push(id);
      } catch {
        return; // the broker died under this request
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  clearTimeout(timer);
  await agent.close().catch(() => undefined);
  return { acked, sent };
}

describe('SIGKILL while retention deletes and segments roll over', () => {
  it('keeps an unbroken log, each event once, the last acknowledged ones included, across three kills', async () => {
    let broker = await start();
    const sent = new Set<string>();
    let lastSequence = 0;
    for (const [round, killAfterMs] of KILL_AFTER_MS.entries()) {
      const run = await publishUntilKilled(broker, round, killAfterMs);
      for (const id of run.sent) sent.add(id);
      expect(await broker.stop('SIGKILL')).toBe('SIGKILL');
      expect(run.acked.length).toBeGreaterThan(RECENT);

      broker = await start(broker.dataDir);
      const log = await readLog(broker.adminUrl);
      const ids = log.map((entry) => entry.event['id'] as string);
      const sequences = log.map((entry) => entry.sequence);
      const gaps = sequences.filter((s, i) => i > 0 && s !== (sequences[i - 1] as number) + 1);
      const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
      const phantoms = ids.filter((id) => !sent.has(id));
      const stored = new Set(ids);
      const lostRecent = run.acked.slice(-RECENT).filter((id) => !stored.has(id));
      expect({ gaps, twice, phantoms, lostRecent }).toEqual({
        gaps: [],
        twice: [],
        phantoms: [],
        lostRecent: [],
      });
      // Retention did delete (the first event kept is not the first ever), segment files included.
      expect(sequences[0]).toBeGreaterThan(1);
      const segments = readdirSync(path.join(broker.dataDir, 'default.segments')).filter((f) =>
        f.endsWith('.seg'),
      );
      expect(segments).not.toContain(`${'1'.padStart(20, '0')}.seg`);
      // Sequences never go back, across kills and retention.
      expect(sequences.at(-1) ?? 0).toBeGreaterThanOrEqual(lastSequence);
      lastSequence = sequences.at(-1) ?? lastSequence;
    }
  });
});
