import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import { subscribe } from '../harness/client.js';

describe('broker delivery defaults', () => {
  let broker: BrokerProcess;
  beforeAll(async () => {
    broker = await startBroker({
      args: ['--delivery-defaults', '{"retry":2,"ordering":"strict","backoffDelay":"PT2S"}'],
    });
  });
  afterAll(async () => {
    await broker.stop();
    removeDir(broker.dataDir);
  });

  it('fill in what a subscription leaves out, and yield to what it sets', async () => {
    const plain = await subscribe(broker.url, { sink: 'http://127.0.0.1:9/a' });
    expect(plain['delivery']).toMatchObject({
      retry: 2,
      ordering: 'strict',
      backoffDelay: 'PT2S',
      contentMode: 'binary',
    });
    const own = await subscribe(broker.url, { sink: 'http://127.0.0.1:9/b', delivery: { retry: 7 } });
    expect(own['delivery']).toMatchObject({ retry: 7, ordering: 'strict' });
  });

  it('invalid defaults stop the broker at start-up with one clear line', () => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'broker', '--port', '0', '--data-dir', broker.dataDir, '--delivery-defaults', '{"retry":-1}'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('invalid configuration: --delivery-defaults: retry');
    const notJson = spawnSync(
      process.execPath,
      [CLI, 'broker', '--port', '0', '--delivery-defaults', 'retry=3'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toContain('--delivery-defaults');
  });
});
