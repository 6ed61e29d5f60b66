// A batch the broker refuses whole with a 413 that names no event (`--max-batch-events`,
// `--ingress-rate-burst`, `--max-request-size`) is too big as a request, not wrong: the publisher sends
// its events again in smaller batches, with the same ids (so a resend is deduplicated), instead of failing
// every one of them. Against real brokers configured with those limits.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HeraldClient } from '../../src/client/index.js';
import { removeDir, useBrokers } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { runCli } from './run-cli.js';

const broker = useBrokers();
const dir = mkdtempSync(path.join(tmpdir(), 'herald-publish-split-'));
afterAll(() => removeDir(dir));

/** The ids of every event of the log whose source is `source`, in log order. */
async function logIds(target: BrokerProcess, source: string): Promise<string[]> {
  const client = new HeraldClient({ url: target.url });
  const ids: string[] = [];
  for (let from = 1; ;) {
    const page = await client.events({ from, limit: 1000 });
    if (page.events.length === 0) return ids;
    for (const { event } of page.events) if (event['source'] === source) ids.push(String(event['id']));
    from = page.next;
  }
}

const event = (id: string, source: string) => ({
  specversion: '1.0',
  id,
  source,
  type: 'com.example.split',
  data: { id },
});

describe('a batch refused whole with a 413', () => {
  it('herald publish --file sends a file to a broker allowing 3 events per batch, every event once', async () => {
    const target = await broker(['--max-batch-events', '3']);
    const file = path.join(dir, 'ten.ndjson');
    const ids = Array.from({ length: 10 }, (_, i) => `split-${i}`);
    writeFileSync(file, ids.map((id) => JSON.stringify(event(id, '/split-cli'))).join('\n') + '\n');

    const exit = await runCli(['publish', '--url', target.url, '--file', file]);
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(JSON.parse(exit.stdout)).toEqual({ published: 10, invalid: 0, failed: 0 });
    expect(await logIds(target, '/split-cli')).toEqual(ids);
  });

  it('publish() of more events than --ingress-rate-burst resolves with every event stored once', async () => {
    const target = await broker(['--ingress-rate-limit', '100', '--ingress-rate-burst', '4']);
    const client = new HeraldClient({ url: target.url });
    const ids = Array.from({ length: 12 }, (_, i) => `burst-${i}`);
    await client.publish(ids.map((id) => event(id, '/split-burst')));
    expect(await logIds(target, '/split-burst')).toEqual(ids);
  }, 60_000);
});
