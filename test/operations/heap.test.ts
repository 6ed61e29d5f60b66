// Acceptance: `herald broker` runs with V8's young generation sized by --heap-semi-space (16MiB by
// default), restarting itself once, in place, where Node can (process.execve); a semi-space the node
// command line or NODE_OPTIONS chose is left alone. Node 24 otherwise grows the young generation to
// 128 MB under load on a large machine, and the broker keeps that much more resident (bench (h)).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, publishBatch } from '../harness/client.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess, BrokerProcessOptions } from '../harness/processes.js';

const MIB = 1024 * 1024;
/** Node 22.15+ and 24 replace a process in place; older ones run the broker as started. */
const canRestart = typeof (process as { execve?: unknown }).execve === 'function';
const NEW_SPACE = 'nodejs_heap_space_size_total_bytes{space="new"}';

let broker: BrokerProcess | undefined;

afterEach(async () => {
  if (broker === undefined) return;
  await broker.stop();
  removeDir(broker.dataDir);
  broker = undefined;
});

/**
 * Node's options in the command line of the process the test spawned, as it runs now: a restart in place
 * replaced it (a restart as a child process would leave the spawned one's command line as it was).
 */
async function start(options: BrokerProcessOptions): Promise<{ nodeArgs: string[] }> {
  broker = await startBroker(options);
  const argv = readFileSync(`/proc/${broker.child.pid}/cmdline`, 'utf8').split('\0');
  const script = argv.findIndex((arg) => arg.endsWith('main.js'));
  return { nodeArgs: argv.slice(1, script) };
}

/** Publishes `batches` batches of 500 events of ~300 B, eight at a time: work that grows the young generation. */
async function churn(url: string, batches: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches) {
        const batch = next++;
        await publishBatch(
          url,
          Array.from({ length: 500 }, (_, i) => ({
            id: `churn-${batch}-${i}`,
            data: { padding: 'x'.repeat(200), batch, i },
          })),
        );
      }
    }),
  );
}

describe('--heap-semi-space', () => {
  it('restarts in place (same pid) with --max-semi-space-size=16, and the young generation stays within it under load', async () => {
    const { nodeArgs } = await start({});
    if (canRestart) expect(nodeArgs).toEqual(['--max-semi-space-size=16']);
    else expect(nodeArgs).toEqual([]);
    await churn(broker!.url, 400);
    const newSpace = await metricValue(broker!.adminUrl, NEW_SPACE);
    expect(newSpace).toBeGreaterThan(0);
    // Two semi-spaces of 16 MiB (Node 20 chooses the same on its own).
    expect(newSpace).toBeLessThanOrEqual(2 * 16 * MIB);
  });

  it.runIf(canRestart)(
    'sizes it as asked: 4MiB semi-spaces hold the young generation to 8 MiB under load',
    async () => {
      const { nodeArgs } = await start({ args: ['--heap-semi-space', '4MiB'] });
      expect(nodeArgs).toEqual(['--max-semi-space-size=4']);
      await churn(broker!.url, 200);
      expect(await metricValue(broker!.adminUrl, NEW_SPACE)).toBeLessThanOrEqual(2 * 4 * MIB);
    },
  );

  it('leaves a semi-space chosen in NODE_OPTIONS alone, and 0 leaves Node its own sizing', async () => {
    const chosen = await start({ env: { NODE_OPTIONS: '--max-semi-space-size=8' } });
    expect(chosen.nodeArgs).toEqual([]);
    await churn(broker!.url, 100);
    expect(await metricValue(broker!.adminUrl, NEW_SPACE)).toBeLessThanOrEqual(2 * 8 * MIB);
    await broker!.stop();
    removeDir(broker!.dataDir);
    broker = undefined;
    const own = await start({ args: ['--heap-semi-space', '0'] });
    expect(own.nodeArgs).toEqual([]);
  });
});
