// Broker processes on the jetstream store, for the acceptance tests in this folder.
import type { BrokerProcess, BrokerProcessOptions } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { waitFor } from '../infra/process.js';

let started = 0;

/** A broker name no other broker in this test process uses, hence a fresh stream and buckets. */
export function uniqueBrokerName(prefix = 'js'): string {
  return `${prefix}-${process.pid}-${++started}`;
}

/** Resolves once `/readyz` answers 200 (the store answered and delivery started). */
export async function waitReady(broker: BrokerProcess, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${broker.adminUrl}/readyz`,
    async () => ((await fetch(`${broker.adminUrl}/readyz`)).status === 200 ? true : undefined),
    { timeoutMs, intervalMs: 100 },
  );
}

/** Keeps a broker's warn/error/fatal log lines (pino levels 40 and up), for failure reports. */
export function collectProblems(broker: BrokerProcess): string[] {
  const lines: string[] = [];
  let partial = '';
  broker.child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (/"level":(4|5|6)\d/.test(line)) lines.push(line);
  });
  return lines;
}

/** How a test starts a broker replica on a shared store. */
export interface ReplicaOptions {
  brokerName?: string;
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Every chunk the broker writes to stdout or stderr (its log lines). */
  onOutput?: (text: string) => void;
}

/**
 * Starts `herald broker` with `storeArgs` (the store and where it is) and `--broker-name` (the given one or
 * `defaultName()`), and waits until it is ready.
 */
export async function startReplica(
  storeArgs: readonly string[],
  options: ReplicaOptions,
  defaultName: () => string,
  readyTimeoutMs?: number,
): Promise<BrokerProcess> {
  const processOptions: BrokerProcessOptions = {
    args: [...storeArgs, '--broker-name', options.brokerName ?? defaultName(), ...(options.args ?? [])],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
  };
  const broker = await startBroker(processOptions);
  await waitReady(broker, readyTimeoutMs);
  return broker;
}

/** Starts `herald broker --store jetstream` against `natsUrl` and waits until it is ready. */
export function startJetStreamBroker(natsUrl: string, options: ReplicaOptions = {}): Promise<BrokerProcess> {
  return startReplica(['--store', 'jetstream', '--nats-url', natsUrl], options, uniqueBrokerName);
}

/** SIGKILLs the replicas a test started (waking any it left stopped, SIGSTOP, first) and removes their data. */
export async function killReplicas(replicas: BrokerProcess[]): Promise<void> {
  for (const replica of replicas.splice(0)) {
    replica.child.kill('SIGCONT');
    await replica.stop('SIGKILL');
    removeDir(replica.dataDir);
  }
}

/** Wakes a replica stopped past its claim's lease (SIGCONT); resolves once its log says the claim is lost. */
export async function wakeAfterLostClaim(replica: BrokerProcess, log: () => string): Promise<void> {
  process.kill(replica.child.pid as number, 'SIGCONT');
  await waitFor(
    'the woken replica to report the lost claim',
    async () => (log().includes('another replica continues it') ? true : undefined),
    { timeoutMs: 30_000 },
  );
}
