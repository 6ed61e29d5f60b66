// A broker that accepts connections but does not answer (stopped with SIGSTOP here: a real broker process,
// frozen) must not hold a client for minutes: Node's fetch waits 300 s for an answer's headers, so
// `herald subscriptions list` took five minutes to fail and `herald publish` (three attempts) fifteen.
// Every request waits at most the client's timeout (`timeoutMs`, `--timeout`, default 30 s), then
// fails like an unreachable broker: `HeraldConnectionError`, exit 1 with one line naming the URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldClient, HeraldConnectionError } from '../../src/client/index.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { runCli } from './run-cli.js';

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
  broker.child.kill('SIGSTOP');
});
afterAll(async () => {
  broker.child.kill('SIGCONT');
  await broker.stop();
  removeDir(broker.dataDir);
});

describe('a broker that does not answer', () => {
  it('the client: a request fails with HeraldConnectionError after timeoutMs', async () => {
    const client = new HeraldClient({ url: broker.url, timeoutMs: 500 });
    const error: unknown = await client.subscriptions.list().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(HeraldConnectionError);
    expect((error as Error).message).toBe(
      `cannot reach the broker at ${broker.url}: no answer within 500 ms`,
    );
  }, 20_000);

  it('herald publish, subscriptions list and tail with --timeout: exit 1 naming the URL', async () => {
    const exits = await Promise.all(
      [
        ['publish', '--type', 'com.example.hung', '--source', '/hung'],
        ['subscriptions', 'list'],
        ['tail', '--from', 'earliest'],
      ].map((args) => runCli([...args, '--url', broker.url, '--timeout', '300'], { timeoutMs: 30_000 })),
    );
    for (const exit of exits) {
      expect(exit.stderr.trim()).toBe(
        `herald: cannot reach the broker at ${broker.url}: no answer within 300 ms`,
      );
      expect(exit.code).toBe(1);
      expect(exit.stdout).toBe('');
    }
  }, 40_000);

  it('herald subscriptions list without --timeout: exit 1 after the default of 30 s, not 300 s', async () => {
    const exit = await runCli(['subscriptions', 'list', '--url', broker.url], { timeoutMs: 90_000 });
    expect(exit.stderr.trim()).toBe(
      `herald: cannot reach the broker at ${broker.url}: no answer within 30000 ms`,
    );
    expect(exit.code).toBe(1);
  }, 100_000);
});
