// Acceptance (#18 point 3): --stream-replicas larger than the NATS cluster. Against one nats-server,
// --stream-replicas 3 cannot be placed: the broker stays not ready and says why in /readyz, its log and
// herald_store_not_ready{cause="stream-replicas"}, instead of blaming reachability.
import { afterAll, describe, expect, it } from 'vitest';
import { requestJson } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { uniqueBrokerName } from './brokers.js';

describe('jetstream: --stream-replicas larger than the cluster', () => {
  let nats: NatsServer | undefined;
  let broker: BrokerProcess | undefined;

  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
    await nats?.stop();
  });

  it('one nats-server, --stream-replicas 3: /readyz, the log and the metric name the replicas', async () => {
    nats = await startNatsServer();
    const output: string[] = [];
    broker = await startBroker({
      args: [
        '--store',
        'jetstream',
        '--nats-url',
        nats.url,
        '--broker-name',
        uniqueBrokerName('r3'),
        '--stream-replicas',
        '3',
      ],
      onOutput: (text) => output.push(text),
    });
    const b = broker;
    const readyz = await waitFor(
      '/readyz cause stream-replicas',
      async () => {
        const r = await requestJson<{ store: boolean; cause?: string; detail?: string }>(
          'GET',
          `${b.adminUrl}/readyz`,
        );
        return r.status === 503 && r.body.cause === 'stream-replicas' ? r.body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(readyz.store).toBe(false);
    expect(readyz.detail).toMatch(/replicas > 1 not supported in non-clustered mode/);
    expect(readyz.detail).toMatch(/--stream-replicas 3/);
    const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^herald_store_not_ready\{cause="stream-replicas"\} 1$/m);
    await waitFor(
      'a log line naming the cause',
      async () => (output.join('').includes('"cause":"stream-replicas"') ? true : undefined),
      { timeoutMs: 10_000 },
    );
    const log = output.join('');
    expect(log).not.toMatch(/not reachable/);
    // The broker's own start-up line repeats the store's reason.
    expect(log).toMatch(/not ready yet \(JetStream cannot place 3 replicas/);
  });
});
