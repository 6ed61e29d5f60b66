// Test harness for real Apache Kafka nodes (KRaft mode, no ZooKeeper) from the jars that
// test/infra/kafka/build.sh fetched. Every node listens on 127.0.0.1 only, with a temporary data directory
// removed by stop(); each runs in combined mode (broker and controller) with a small heap.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { ManagedProcess, freePorts, makeTempDir, removeTempDir, waitFor } from '../process.js';

export const KAFKA_BUILD_SCRIPT = 'test/infra/kafka/build.sh';
export const KAFKA_VERSION = process.env['KAFKA_VERSION'] ?? '4.1.1';

export interface KafkaNode {
  readonly nodeId: number;
  readonly port: number;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends a signal (default SIGKILL) and waits for the process to exit; data is kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again on the same ports and data. */
  restart(): Promise<void>;
  logs(lines?: number): string;
}

export interface KafkaCluster {
  readonly nodes: readonly KafkaNode[];
  /** Bootstrap list of every node: `127.0.0.1:P1,127.0.0.1:P2,…`. */
  readonly bootstrap: string;
  /** The node id leading partition 0 of `topic`, asked of the running nodes. */
  leaderOf(topic: string): Promise<number>;
  /** Terminates every node and deletes their directories. Idempotent. */
  stop(): Promise<void>;
}

/** The directory of the fetched Kafka (its `libs/` is the class path); throws (never skips) when missing. */
export function kafkaHome(): string {
  const override = process.env['HERALD_KAFKA_HOME'];
  const cache = process.env['HERALD_CACHE'] ?? join(homedir(), '.cache', 'herald');
  const home = override !== undefined && override !== '' ? override : join(cache, `kafka-${KAFKA_VERSION}`);
  if (!existsSync(join(home, 'libs'))) {
    throw new Error(
      `Kafka ${KAFKA_VERSION} not found at ${home}. Fetch it with \`bash ${KAFKA_BUILD_SCRIPT}\` ` +
        '(or set HERALD_KAFKA_HOME to a directory with a libs/ folder of Kafka jars).',
    );
  }
  return home;
}

const START_TIMEOUT_MS = 90_000;
// Small heaps and few threads: the test machine has 2 cores shared with much else.
const JVM = ['-Xms64m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss512k'];

interface NodeConfig {
  readonly nodeId: number;
  readonly port: number;
  readonly controllerPort: number;
  readonly voters: string;
  readonly replication: number;
  readonly dir: string;
}

function renderConfig(c: NodeConfig): string {
  return [
    'process.roles=broker,controller',
    `node.id=${c.nodeId}`,
    `controller.quorum.voters=${c.voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${c.port},CONTROLLER://127.0.0.1:${c.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${c.port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${join(c.dir, 'data')}`,
    'num.partitions=1',
    `offsets.topic.replication.factor=${c.replication}`,
    `transaction.state.log.replication.factor=${c.replication}`,
    `transaction.state.log.min.isr=${Math.min(2, c.replication)}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'num.network.threads=2',
    'num.io.threads=2',
    'background.threads=2',
    'num.replica.fetchers=1',
    'log.cleaner.threads=1',
    'log.cleaner.dedupe.buffer.size=8388608',
    'log.retention.check.interval.ms=5000',
    // Notice a dead node within a few seconds, so that failover tests stay short.
    'broker.session.timeout.ms=6000',
    'broker.heartbeat.interval.ms=1000',
    'replica.lag.time.max.ms=6000',
    '',
  ].join('\n');
}

class KafkaServerNode implements KafkaNode {
  private proc: ManagedProcess | undefined;
  private readonly configPath: string;

  constructor(
    private readonly home: string,
    private readonly config: NodeConfig,
  ) {
    this.configPath = join(config.dir, 'server.properties');
    writeFileSync(this.configPath, renderConfig(config));
    writeFileSync(
      join(config.dir, 'log4j2.properties'),
      [
        'appender.console.type=Console',
        'appender.console.name=STDOUT',
        'appender.console.layout.type=PatternLayout',
        'appender.console.layout.pattern=[%d] %p %m (%c)%n',
        'rootLogger.level=WARN',
        'rootLogger.appenderRef.stdout.ref=STDOUT',
        'logger.server.name=kafka.server.KafkaRaftServer',
        'logger.server.level=INFO',
        '',
      ].join('\n'),
    );
  }

  get nodeId(): number {
    return this.config.nodeId;
  }
  get port(): number {
    return this.config.port;
  }
  get address(): string {
    return `127.0.0.1:${this.config.port}`;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get running(): boolean {
    return this.proc?.running ?? false;
  }
  get dir(): string {
    return this.config.dir;
  }

  private javaArgs(main: string, args: readonly string[]): string[] {
    return [
      ...JVM,
      `-Dlog4j2.configurationFile=${join(this.config.dir, 'log4j2.properties')}`,
      '-cp',
      `${join(this.home, 'libs')}/*`,
      main,
      ...args,
    ];
  }

  /** `kafka-storage format`: writes the cluster id and the initial metadata into the data directory. */
  format(clusterId: string): void {
    mkdirSync(join(this.config.dir, 'data'), { recursive: true });
    const result = spawnSync(
      'java',
      // `--cluster-id=` form: a base64url id may start with '-', which would read as an option.
      this.javaArgs('kafka.tools.StorageTool', [
        'format',
        `--cluster-id=${clusterId}`,
        '-c',
        this.configPath,
      ]),
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (result.status !== 0) {
      throw new Error(`formatting Kafka node ${this.nodeId} failed: ${result.stderr}${result.stdout}`);
    }
  }

  async start(): Promise<void> {
    const proc = new ManagedProcess(
      `kafka ${this.nodeId}`,
      'java',
      this.javaArgs('kafka.Kafka', [this.configPath]),
      { cleanupDir: this.config.dir },
    );
    this.proc = proc;
    await waitFor(
      `Kafka node ${this.nodeId} on ${this.address}`,
      async () => {
        const admin = new Admin({
          clientId: 'herald-test-probe',
          bootstrapBrokers: [this.address],
          retries: 0,
          connectTimeout: 1_000,
          timeout: 2_000,
        });
        try {
          const metadata = await admin.metadata({ topics: [], forceUpdate: true });
          return metadata.brokers.has(this.nodeId) ? true : undefined;
        } finally {
          await admin.close().catch(() => undefined);
        }
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 500, abort: () => proc.exitDescription() },
    ).catch(async (err: unknown) => {
      await proc.stop(2_000);
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${msg}\n--- kafka ${this.nodeId} log ---\n${proc.recentOutput()}`, { cause: err });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.proc?.signal(signal, 15_000);
  }

  async restart(): Promise<void> {
    await this.proc?.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.proc?.stop(5_000);
  }

  logs(lines = 40): string {
    return this.proc?.recentOutput(lines) ?? '';
  }
}

/** A random base64url cluster id of 16 bytes, as `kafka-storage random-uuid` prints. */
function clusterId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}

/**
 * Starts `size` Kafka nodes (1 for most tests, 3 for failover tests) on free loopback ports, each both
 * broker and KRaft controller, and waits until every node serves metadata. Topics of the internal
 * coordinators get a replication factor of `min(size, 3)`.
 */
export async function startKafkaCluster(size = 1, opts: { port?: number } = {}): Promise<KafkaCluster> {
  const home = kafkaHome();
  // A port the caller chose is free too while nothing listens on it: never hand it out as another listener's.
  const ports = await freePorts(size * 2, opts.port === undefined ? [] : [opts.port]);
  if (opts.port !== undefined) ports[0] = opts.port;
  const at = (i: number): number => {
    const p = ports[i];
    if (p === undefined) throw new Error('no free ports');
    return p;
  };
  const voters = Array.from({ length: size }, (_, i) => `${i + 1}@127.0.0.1:${at(size + i)}`).join(',');
  const id = clusterId();
  const nodes: KafkaServerNode[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(
      new KafkaServerNode(home, {
        nodeId: i + 1,
        port: at(i),
        controllerPort: at(size + i),
        voters,
        replication: Math.min(size, 3),
        dir: makeTempDir(`herald-kafka-${i + 1}-`),
      }),
    );
  }
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const node of nodes) removeTempDir(node.dir);
  };
  const bootstrap = nodes.map((n) => n.address).join(',');

  const leaderOf = (topic: string): Promise<number> =>
    waitFor(
      `the leader of ${topic}`,
      async () => {
        const running = nodes.filter((n) => n.running).map((n) => n.address);
        const admin = new Admin({ clientId: 'herald-test-leader', bootstrapBrokers: running, retries: 1 });
        try {
          const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
          const leader = metadata.topics.get(topic)?.partitions[0]?.leader;
          return leader !== undefined && leader >= 0 ? leader : undefined;
        } finally {
          await admin.close().catch(() => undefined);
        }
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );

  try {
    for (const node of nodes) node.format(id);
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    const logs = nodes.map((n) => `--- kafka ${n.nodeId} ---\n${n.logs(20)}`).join('\n');
    await stop();
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${msg}\n${logs}`, { cause: err });
  }
  return { nodes, bootstrap, leaderOf, stop };
}
