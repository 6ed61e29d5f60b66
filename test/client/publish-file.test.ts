// Acceptance (issue 13): `herald publish --file` sends 100,000 events from an NDJSON file and all of them
// are in the log; an invalid file is reported by line number and publishes nothing.
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { runCli } from './run-cli.js';

let broker: BrokerProcess;
const dir = mkdtempSync(path.join(tmpdir(), 'herald-publish-file-'));
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
  removeDir(dir);
});

/** Every event of the log whose source is `source`, read page by page with GET /events. */
async function logIds(source: string): Promise<string[]> {
  const ids: string[] = [];
  let from = 1;
  for (;;) {
    const response = await fetch(`${broker.url}/events?from=${from}&limit=1000`);
    const page = (await response.json()) as {
      events: Array<{ event: { id: string; source: string } }>;
      next: number;
    };
    if (page.events.length === 0) return ids;
    for (const { event } of page.events) if (event.source === source) ids.push(event.id);
    from = page.next;
  }
}

const line = (id: string, source: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ specversion: '1.0', id, source, type: 'com.example.bulk', data: { n: id }, ...extra });

describe('herald publish --file', () => {
  it('publishes 100,000 events from an NDJSON file, and every one is in the log', async () => {
    const file = path.join(dir, 'bulk.ndjson');
    const out = createWriteStream(file);
    for (let i = 0; i < 100_000; i++)
      out.write(line(`bulk-${i}`, '/bulk', { subject: `item/${i % 97}` }) + '\n');
    await new Promise<void>((resolve) => out.end(resolve));

    const exit = await runCli(['publish', '--url', broker.url, '--file', file], { timeoutMs: 240_000 });
    expect(exit.code, exit.stderr).toBe(0);
    expect(JSON.parse(exit.stdout)).toEqual({ published: 100_000, invalid: 0, failed: 0 });
    // No progress bar without a terminal.
    expect(exit.stderr).toBe('');

    const ids = await logIds('/bulk');
    expect(ids).toHaveLength(100_000);
    expect(new Set(ids).size).toBe(100_000);
  }, 300_000);

  it('reports invalid lines by number and reason and publishes nothing', async () => {
    const file = path.join(dir, 'invalid.ndjson');
    writeFileSync(
      file,
      [
        line('bad-1', '/invalid'),
        line('bad-2', '/invalid'),
        '{"specversion": "1.0", "id": ',
        '',
        JSON.stringify({ specversion: '1.0', id: 'bad-5', source: '/invalid' }),
        line('bad-6', '/invalid', { time: 'yesterday' }),
      ].join('\n') + '\n',
    );
    const exit = await runCli(['publish', '--url', broker.url, '--file', file]);
    expect(exit.code).toBe(2);
    const lines = exit.stderr.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^herald: ${file}:3: not valid JSON: `));
    expect(lines[1]).toBe(
      `herald: ${file}:5: HERALD_MISSING_ATTRIBUTE: required attribute 'type' is missing`,
    );
    expect(lines[2]).toMatch(new RegExp(`^herald: ${file}:6: HERALD_INVALID_ATTRIBUTE: .*time`));
    expect(lines[3]).toBe(
      'herald: 3 invalid line(s); nothing was published (--continue-on-error publishes the valid ones)',
    );
    expect(await logIds('/invalid')).toEqual([]);

    const partial = await runCli(['publish', '--url', broker.url, '--file', file, '--continue-on-error']);
    expect(partial.code).toBe(1);
    expect(JSON.parse(partial.stdout)).toEqual({ published: 2, invalid: 3, failed: 0 });
    expect((await logIds('/invalid')).sort()).toEqual(['bad-1', 'bad-2']);
  });

  it('reads standard input with --file -, in table form too', async () => {
    const input = [line('stdin-1', '/stdin'), line('stdin-2', '/stdin')].join('\n') + '\n';
    const exit = await runCli(['publish', '--url', broker.url, '--file', '-', '-o', 'table'], { input });
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toMatch(/^PUBLISHED\s+INVALID\s+FAILED\n2\s+0\s+0\n$/);
    expect((await logIds('/stdin')).sort()).toEqual(['stdin-1', 'stdin-2']);
  });

  it('a refusal from the broker is printed with its code: exit 1', async () => {
    const file = path.join(dir, 'big.ndjson');
    // 2 MiB of data: valid CloudEvents, but over the broker's default 1 MiB per event.
    writeFileSync(
      file,
      line('big-1', '/big', { data: 'x'.repeat(2 * 1024 * 1024), datacontenttype: 'text/plain' }) + '\n',
    );
    const exit = await runCli(['publish', '--url', broker.url, '--file', file]);
    expect(exit.code).toBe(1);
    // Piped (JSON output): the broker's problem+json document on stderr.
    expect(JSON.parse(exit.stderr)).toMatchObject({ status: 413, code: 'HERALD_PAYLOAD_TOO_LARGE' });
    expect(JSON.parse(exit.stdout)).toEqual({ published: 0, invalid: 0, failed: 1 });
  });
});
