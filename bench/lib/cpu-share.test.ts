// SPDX-License-Identifier: Apache-2.0
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCpuShare, meanCpuShare, watchCpuShare } from './cpu-share.js';
import { processCpu } from './processes.js';

/** A real Node.js process that spins for `ms` on its main thread, or on a worker thread while the main thread sleeps. */
function spinner(where: 'main' | 'worker', ms: number) {
  const spin = `const end = Date.now() + ${ms}; while (Date.now() < end) {}`;
  const script =
    where === 'main'
      ? `process.stdout.write('ready\\n'); ${spin}`
      : `const { Worker } = require('node:worker_threads'); const w = new Worker(${JSON.stringify(spin)}, { eval: true }); w.on('online', () => process.stdout.write('ready\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function shareOf(where: 'main' | 'worker') {
  const child = spinner(where, 800);
  await once(child.stdout!, 'data');
  const pid = child.pid as number;
  const cpuMs = (): number => {
    const { user, system } = processCpu(pid);
    return user + system;
  };
  const watch = watchCpuShare({ broker: { pid, cpuMs }, others: [{ name: 'sink', cpuMs }] });
  await new Promise((resolve) => setTimeout(resolve, 500));
  return watch.stop();
}

describe('watchCpuShare', () => {
  it("counts the broker's event-loop thread apart from its other threads", async () => {
    const main = await shareOf('main');
    expect(main.brokerEventLoop).toBeGreaterThan(main.brokerOtherThreads as number);
    const worker = await shareOf('worker');
    expect(worker.brokerOtherThreads).toBeGreaterThan(worker.brokerEventLoop as number);
    // The other process counted is the same one here: it used what both of the broker's parts used.
    for (const share of [main, worker]) {
      const broker = (share.brokerEventLoop as number) + (share.brokerOtherThreads as number);
      expect(Math.abs((share.others['sink'] as number) - broker)).toBeLessThan(0.05);
      expect(share.idle).toBeGreaterThanOrEqual(0);
      expect(share.stolen).toBeGreaterThanOrEqual(0);
    }
  });

  it('weights rounds by their durations and leaves the broker out of a run without one', () => {
    const round = (loop: number) => ({
      brokerEventLoop: loop,
      brokerOtherThreads: 0.1,
      loadGenerator: 0.2,
      others: { sink: loop / 2 },
      idle: 0.5,
      stolen: 0,
      machineCores: 2,
    });
    const mean = meanCpuShare([
      { share: round(0.9), seconds: 3 },
      { share: round(0.3), seconds: 1 },
    ]);
    expect(mean.brokerEventLoop).toBeCloseTo(0.75);
    expect(mean.others['sink']).toBeCloseTo(0.375);
    expect(formatCpuShare(mean)).toBe(
      'cores used: broker event loop 0.75, its other threads 0.10, load generator 0.20, sink 0.38, idle 0.50, stolen by the host 0.00 (of 2)',
    );
    const direct = watchCpuShare({}).stop();
    expect(direct.brokerEventLoop).toBeUndefined();
    expect(formatCpuShare(direct, 'publisher')).toMatch(/^cores used: publisher \d/);
  });
});
