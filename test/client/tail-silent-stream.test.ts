// A tail whose connection dies silently — a frozen proxy, a NAT or load balancer that dropped the flow
// without a reset, a half-open TCP connection — must not wait for ever: the broker writes a heartbeat
// every 15 s on an idle stream, so a stream silent for longer than the idle limit (`idleTimeoutMs`,
// `--idle-timeout`) is dead. The client reconnects and resumes after the last sequence it gave
// (`Last-Event-ID`): the events published after the stall arrive, none lost and none repeated.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeraldClient } from '../../src/client/index.js';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { publishBatch } from '../harness/client.js';
import { startStallingProxy } from './stalling-proxy.js';
import type { StallingProxy } from './stalling-proxy.js';

/**
 * Far below the broker's 15 s heartbeat, so that the test does not wait for it (the tail also reconnects
 * on a healthy idle stream then, which it may: it resumes where it was). The connection timeout is set
 * too, for a stall that hits a connection still waiting for its answer's headers.
 */
const IDLE_MS = 2_000;

let broker: BrokerProcess;
let proxy: StallingProxy | undefined;
beforeAll(async () => {
  broker = await startBroker();
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});
afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

const batch = (source: string, from: number) =>
  Array.from({ length: 5 }, (_, i) => ({ id: `${source.slice(1)}-${from + i}`, source }));

/** Polls until `seen` holds `count` items, or gives up after 30 s (the failure names what was seen). */
async function waitSeen(seen: readonly string[], count: number, context: () => string): Promise<void> {
  for (let i = 0; i < 600 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 50));
  expect(seen.length, context()).toBeGreaterThanOrEqual(count);
}

/**
 * Stalls the tail's connection: polls until one is open (a client with an idle limit below the broker's
 * heartbeat may be between two connections), so that the stall always hits a stream.
 */
async function stall(stalling: StallingProxy): Promise<void> {
  let stalled = 0;
  for (let i = 0; i < 600 && stalled === 0; i++) {
    stalled = stalling.stall();
    if (stalled === 0) await new Promise((r) => setTimeout(r, 20));
  }
  expect(stalled).toBeGreaterThanOrEqual(1);
}

describe('tail on a stream that went silent', () => {
  it('the client library: reconnects after idleTimeoutMs and resumes without loss or repeats', async () => {
    const source = '/silent-library';
    proxy = await startStallingProxy(broker.url);
    const stalling = proxy;
    const client = new HeraldClient({ url: stalling.url, timeoutMs: 5_000 });
    const controller = new AbortController();
    const seen: string[] = [];
    const reconnects: string[] = [];
    const tailing = (async () => {
      for await (const { json } of client.tail({
        from: 'earliest',
        filter: `source = '${source}'`,
        idleTimeoutMs: IDLE_MS,
        reconnectDelayMs: 50,
        signal: controller.signal,
        onReconnect: (_attempt, error) => reconnects.push(error?.message ?? 'stream ended'),
      })) {
        seen.push(String(json['id']));
      }
    })();
    const context = () => `seen ${JSON.stringify(seen)}; reconnects ${JSON.stringify(reconnects)}`;
    try {
      await publishBatch(broker.url, batch(source, 0));
      await waitSeen(seen, 5, context);

      await stall(stalling);
      await publishBatch(broker.url, batch(source, 5));
      await waitSeen(seen, 10, context);

      expect(seen).toEqual([...batch(source, 0), ...batch(source, 5)].map((event) => event.id));
      expect(stalling.connections()).toBeGreaterThanOrEqual(2);
      expect(reconnects.some((reason) => reason.includes(`no data within ${IDLE_MS} ms`))).toBe(true);
    } finally {
      controller.abort();
      await tailing;
    }
  }, 60_000);

  it('herald tail --idle-timeout: reconnects and prints the events published after the stall, once each', async () => {
    const source = '/silent-cli';
    proxy = await startStallingProxy(broker.url);
    const stalling = proxy;
    const tail = spawn(
      process.execPath,
      [
        CLI,
        'tail',
        '--url',
        stalling.url,
        '--from',
        'earliest',
        '--filter',
        `source = '${source}'`,
        '--timeout',
        '5000',
        '--idle-timeout',
        String(IDLE_MS),
        '-o',
        'json',
        '--limit',
        '10',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const seen: string[] = [];
    let stderr = '';
    tail.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: tail.stdout }).on('line', (text) => {
      seen.push((JSON.parse(text) as { event: { id: string } }).event.id);
    });
    const exited = new Promise<number | null>((resolve) => tail.once('exit', resolve));
    try {
      await publishBatch(broker.url, batch(source, 0));
      await waitSeen(seen, 5, () => stderr);

      await stall(stalling);
      await publishBatch(broker.url, batch(source, 5));
      await waitSeen(seen, 10, () => stderr);

      expect(await exited).toBe(0);
      expect(seen).toEqual([...batch(source, 0), ...batch(source, 5)].map((event) => event.id));
      expect(stderr).toContain(`no data within ${IDLE_MS} ms`);
      expect(stderr).toContain('reconnected; resuming after sequence');
    } finally {
      tail.kill('SIGKILL');
    }
  }, 60_000);
});
