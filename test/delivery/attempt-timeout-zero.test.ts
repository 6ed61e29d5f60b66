// `delivery.timeout` is the deadline of one attempt (docs/subscriptions.md). A zero one (`PT0S`, or one that
// rounds to no whole millisecond) was accepted and made a 1 ms deadline: the subscription was created, and
// its events, answered at once by a healthy sink, ended as HERALD_SINK_TIMEOUT dead letters. No attempt can
// be answered in no time, so it is refused like the other invalid durations, in a subscription and in the
// broker's --delivery-defaults alike.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brokerArgv, removeDir, useBroker } from '../harness/processes.js';
import { requestJson } from '../harness/client.js';

describe('a zero attempt timeout', () => {
  const ctx = useBroker();

  it('is a coded 400 pointing at delivery.timeout', async () => {
    for (const timeout of ['PT0S', 'PT0.0004S', 'P0D']) {
      const response = await requestJson<{ code: string; pointer: string }>(
        'POST',
        `${ctx.broker.url}/subscriptions`,
        { sink: 'http://127.0.0.1:9/zero', protocol: 'HTTP', delivery: { timeout } },
      );
      expect({ timeout, status: response.status }).toEqual({ timeout, status: 400 });
      expect(response.body.code).toBe('HERALD_INVALID_REQUEST');
      expect(response.body.pointer).toBe('/delivery/timeout');
    }
    const listed = await requestJson<unknown[]>('GET', `${ctx.broker.url}/subscriptions`);
    expect(listed.body).toEqual([]);
  });

  it('stops a broker given it in --delivery-defaults', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-zero-timeout-'));
    try {
      const run = spawnSync(
        process.execPath,
        brokerArgv(dataDir, ['--delivery-defaults', '{"timeout":"PT0S"}']),
        { encoding: 'utf8', timeout: 30_000 },
      );
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('invalid configuration: --delivery-defaults: timeout');
    } finally {
      removeDir(dataDir);
    }
  });
});
