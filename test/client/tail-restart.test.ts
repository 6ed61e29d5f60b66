// Acceptance (issue 13): `herald tail` resumes after the broker restarts — SIGTERM and SIGKILL — without
// losing or repeating an event.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { freePorts } from '../infra/process.js';
import { publishBatch } from '../harness/client.js';

let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.stop('SIGKILL');
  if (broker !== undefined) removeDir(broker.dataDir);
});

describe('herald tail across broker restarts', () => {
  it('sees every event exactly once while the broker is stopped with SIGTERM and killed with SIGKILL', async () => {
    const [port] = await freePorts(1);
    const args = ['--port', String(port)];
    broker = await startBroker({ args });
    const dataDir = broker.dataDir;
    const url = broker.url;

    const tail = spawn(
      process.execPath,
      [CLI, 'tail', '--url', url, '--from', 'earliest', '-o', 'json', '--limit', '300'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const seen: string[] = [];
    let stderr = '';
    tail.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: tail.stdout }).on('line', (text) => {
      seen.push((JSON.parse(text) as { event: { id: string } }).event.id);
    });
    const exited = new Promise<number | null>((resolve) => tail.once('exit', resolve));
    const waitSeen = async (count: number) => {
      for (let i = 0; i < 600 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 50));
      expect(seen.length, stderr).toBeGreaterThanOrEqual(count);
    };
    const batch = (from: number) =>
      Array.from({ length: 100 }, (_, i) => ({ id: `tail-${from + i}`, source: '/tail-restart' }));

    await publishBatch(url, batch(0));
    await waitSeen(100);

    // Graceful stop: the stream ends; events published after the restart arrive after the resume.
    expect(await broker.stop('SIGTERM')).toBe(0);
    broker = await startBroker({ dataDir, args });
    await publishBatch(url, batch(100));
    await waitSeen(200);

    // Crash: the connection breaks without an end.
    await broker.stop('SIGKILL');
    broker = await startBroker({ dataDir, args });
    await publishBatch(url, batch(200));
    await waitSeen(300);

    expect(await exited).toBe(0);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => `tail-${i}`));
    expect(stderr).toContain('reconnecting');
    expect(stderr).toContain('reconnected; resuming after sequence');
  }, 120_000);
});
