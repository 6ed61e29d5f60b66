// Test harness for a real nats-server (JetStream) built by test/infra/nats/build.sh.
// Every server listens on 127.0.0.1 only, with a temporary store directory removed by stop().
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import {
  ManagedProcess,
  freePorts,
  makeTempDir,
  removeTempDir,
  resolveInfraBinary,
  waitFor,
} from '../process.js';

export const NATS_BUILD_SCRIPT = 'test/infra/nats/build.sh';

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Client port (default: a free loopback port). */
  port?: number;
  /** Lines appended to the server's configuration file: `authorization { … }`, `tls { … }`, operator mode. */
  config?: string;
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** HTTP monitoring port (/healthz, /varz, /jsz). */
  readonly monitorPort: number;
  readonly monitorUrl: string;
  readonly name: string;
  /** Root of this server's temporary files; JetStream data lives in `${storeDir}/jetstream`. */
  readonly storeDir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Terminates the server (SIGTERM, then SIGKILL) and deletes its temporary directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Sends a signal without cleaning up (failure tests). Waits for the process to exit for terminating
   * signals (default SIGKILL); returns at once for others such as SIGSTOP/SIGCONT.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the process if it still runs and starts it again on the same ports and store (data is kept). */
  restart(): Promise<void>;
  /** Last lines of the server's log, for assertion messages. */
  logs(lines?: number): string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** Client URLs of all nodes, for a client's `servers` option. */
  readonly urls: readonly string[];
  /**
   * Resolves the JetStream meta leader's server name once every running node agrees on one (and it is
   * not `excluding`, e.g. a leader just killed, whose stale name survivors report until re-election).
   */
  metaLeader(opts?: { timeoutMs?: number; excluding?: string }): Promise<string>;
  stop(): Promise<void>;
}

export function natsServerBinary(): string {
  return resolveInfraBinary('HERALD_NATS_SERVER', 'nats-server', NATS_BUILD_SCRIPT);
}

const TERMINATING: ReadonlySet<NodeJS.Signals> = new Set([
  'SIGKILL',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGHUP',
]);
const START_TIMEOUT_MS = 30_000;

/** GET a monitoring endpoint on 127.0.0.1 and parse its JSON body. Throws on non-2xx. */
export function monitorJson(port: number, path: string, timeoutMs = 2_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          reject(new Error(`GET ${path} -> ${status}: ${body.slice(0, 300)}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as unknown);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

interface NodeConfig {
  name: string;
  port: number;
  monitorPort: number;
  jetstream: boolean;
  dir: string;
  cluster?: { name: string; port: number; routes: readonly number[] };
  extra?: string;
}

function renderConfig(c: NodeConfig): string {
  const lines = [
    `server_name: ${JSON.stringify(c.name)}`,
    `listen: "127.0.0.1:${c.port}"`,
    `http: "127.0.0.1:${c.monitorPort}"`,
  ];
  if (c.jetstream) {
    lines.push(
      'jetstream {',
      `  store_dir: ${JSON.stringify(join(c.dir, 'jetstream'))}`,
      '  max_memory_store: 256MB',
      '  max_file_store: 2GB',
      '}',
    );
  }
  if (c.cluster !== undefined) {
    const routes = c.cluster.routes.map((p) => `    "nats-route://127.0.0.1:${p}"`);
    lines.push(
      'cluster {',
      `  name: ${JSON.stringify(c.cluster.name)}`,
      `  listen: "127.0.0.1:${c.cluster.port}"`,
      '  routes: [',
      ...routes,
      '  ]',
      '}',
    );
  }
  if (c.extra !== undefined) lines.push(c.extra);
  return `${lines.join('\n')}\n`;
}

class NatsServerNode implements NatsServer {
  private proc: ManagedProcess | undefined;
  private removed = false;
  private readonly configPath: string;

  constructor(
    private readonly binary: string,
    private readonly config: NodeConfig,
  ) {
    this.configPath = join(config.dir, 'nats.conf');
    writeFileSync(this.configPath, renderConfig(config));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.config.port}`;
  }
  get port(): number {
    return this.config.port;
  }
  get monitorPort(): number {
    return this.config.monitorPort;
  }
  get monitorUrl(): string {
    return `http://127.0.0.1:${this.config.monitorPort}`;
  }
  get name(): string {
    return this.config.name;
  }
  get storeDir(): string {
    return this.config.dir;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get running(): boolean {
    return this.proc?.running ?? false;
  }

  logs(lines = 40): string {
    return this.proc?.recentOutput(lines) ?? '';
  }

  /** Spawns the process and waits until the server answers /healthz (JetStream-aware when enabled). */
  async start(): Promise<void> {
    if (this.removed) throw new Error(`nats-server ${this.name} was stopped and its directory removed`);
    const proc = new ManagedProcess(`nats-server ${this.name}`, this.binary, ['-c', this.configPath], {
      cleanupDir: this.config.dir,
    });
    this.proc = proc;
    // A clustered JetStream node reports healthy only once it has a meta leader, so for clusters
    // only check that JetStream is enabled here; NatsCluster waits for the leader itself.
    const path =
      this.config.jetstream && this.config.cluster === undefined
        ? '/healthz'
        : '/healthz?js-enabled-only=true';
    try {
      await waitFor(
        `nats-server ${this.name} on ${this.url}`,
        async () => {
          await monitorJson(this.config.monitorPort, path);
          return true;
        },
        { timeoutMs: START_TIMEOUT_MS, abort: () => proc.exitDescription() },
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      await proc.stop(2_000);
      throw new Error(`${msg}\n--- nats-server ${this.name} log ---\n${proc.recentOutput()}`, { cause: err });
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.proc?.signal(signal, TERMINATING.has(signal) ? 15_000 : 0);
  }

  async restart(): Promise<void> {
    await this.proc?.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    if (!this.removed) {
      this.removed = true;
      removeTempDir(this.config.dir);
    }
  }
}

/** Starts one nats-server on 127.0.0.1 (JetStream on by default) and waits until it is healthy. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  // A port the caller chose is free too while nothing listens on it: never the monitor's as well.
  const [clientPort, monitorPort] = await freePorts(2, opts.port === undefined ? [] : [opts.port]);
  if (clientPort === undefined || monitorPort === undefined) throw new Error('no free ports');
  const dir = makeTempDir('herald-nats-');
  const node = new NatsServerNode(binary, {
    name: 'herald-nats-0',
    port: opts.port ?? clientPort,
    monitorPort,
    jetstream: opts.jetstream ?? true,
    dir,
    ...(opts.config === undefined ? {} : { extra: opts.config }),
  });
  try {
    await node.start();
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}

interface JszMeta {
  server_name?: string;
  meta_cluster?: { leader?: string; cluster_size?: number };
}

/** The node's meta leader, if it knows one and, when `peers` is given, once it counts that many meta peers. */
async function metaLeaderOf(node: NatsServer, peers?: number): Promise<string | undefined> {
  const jsz = (await monitorJson(node.monitorPort, '/jsz')) as JszMeta;
  const leader = jsz.meta_cluster?.leader;
  if (leader === undefined || leader === '') return undefined;
  // A leader can be elected by a quorum before the last peer has joined the meta group; that node then
  // still reports a smaller cluster_size, so a cluster is ready only once every node counts all of them.
  return peers === undefined || jsz.meta_cluster?.cluster_size === peers ? leader : undefined;
}

/**
 * Starts an N-node (default 3) JetStream cluster on loopback ports, routes fully meshed, one temporary
 * store directory per node, and waits until every node agrees on a JetStream meta leader and counts all
 * N nodes as meta peers.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`invalid cluster size ${size}`);
  const binary = natsServerBinary();
  const ports = await freePorts(size * 3);
  const at = (i: number): number => {
    const p = ports[i];
    if (p === undefined) throw new Error('no free ports');
    return p;
  };
  const routePorts = Array.from({ length: size }, (_, i) => at(size * 2 + i));
  const nodes: NatsServerNode[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(
      new NatsServerNode(binary, {
        name: `herald-nats-${i}`,
        port: at(i),
        monitorPort: at(size + i),
        jetstream: true,
        dir: makeTempDir(`herald-nats-${i}-`),
        cluster: { name: 'herald', port: at(size * 2 + i), routes: routePorts.filter((_, j) => j !== i) },
      }),
    );
  }

  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };

  const metaLeader = (
    opts: { timeoutMs?: number; excluding?: string; peers?: number } = {},
  ): Promise<string> =>
    waitFor(
      'a JetStream meta leader agreed by all running nodes',
      async () => {
        const running = nodes.filter((n) => n.running);
        const leaders = await Promise.all(running.map((n) => metaLeaderOf(n, opts.peers)));
        const first = leaders[0];
        const agreed = first !== undefined && leaders.every((l) => l === first);
        return agreed && first !== opts.excluding ? first : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 250 },
    );

  try {
    await Promise.all(nodes.map((n) => n.start()));
    await metaLeader({ peers: size });
  } catch (err) {
    const logs = nodes.map((n) => `--- ${n.name} ---\n${n.logs(20)}`).join('\n');
    await stop();
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${msg}\n${logs}`, { cause: err });
  }

  return {
    servers: nodes,
    urls: nodes.map((n) => n.url),
    metaLeader,
    stop,
  };
}
