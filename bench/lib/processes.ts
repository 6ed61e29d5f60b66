// SPDX-License-Identifier: Apache-2.0
// Child processes of the benchmark: the broker under test, the bare node:http baseline, the lean sink
// and nats-server. Every process listens on 127.0.0.1 only and is stopped by whoever started it (the
// scenarios do so in `finally` blocks); `stopAll` is the last-resort sweep in run.ts.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Repository root: the nearest directory above this file with a package.json (built: dist-bench/bench/lib; tests: bench/lib). */
export const ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
/**
 * The broker CLI under test; `HERALD_BENCH_CLI` points at another build (e.g. one without a change,
 * for before/after comparisons on the same machine in the same hour).
 */
export const CLI = process.env['HERALD_BENCH_CLI'] ?? path.join(ROOT, 'dist/cli/main.js');
const LIB = path.dirname(fileURLToPath(import.meta.url));

/** CPU placement: with `pin`, the process under test gets core 1 and the load side core 0. */
export interface Placement {
  readonly pin: boolean;
}

export const SERVER_CORE = '1';
export const LOAD_CORE = '0';

export function tasksetAvailable(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of this process (the load generator) to the load core. */
export function pinSelf(): boolean {
  return (
    spawnSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(process.pid)], { stdio: 'ignore' }).status === 0
  );
}

const running = new Set<ManagedChild>();

/** A child process with a bounded stop: SIGTERM, then SIGKILL after `graceMs`. */
export class ManagedChild {
  private readonly stderr: string[] = [];
  private readonly exited: Promise<number | string>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    running.add(this);
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk.toString());
      if (this.stderr.length > 50) this.stderr.shift();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(this);
        resolve(code ?? signal ?? '');
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  recentErrors(): string {
    return this.stderr.join('').slice(-2000);
  }

  /** Resolves with the first stdout line for which `pick` returns a value; rejects if the process exits first. */
  waitForLine<T>(
    pick: (line: string) => T | undefined,
    timeoutMs = 20_000,
    stream: 'stdout' | 'stderr' = 'stdout',
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const input = stream === 'stdout' ? this.child.stdout! : this.child.stderr!;
      const lines = createInterface({ input });
      const timer = setTimeout(() => {
        lines.close();
        reject(new Error(`${this.name}: not ready within ${timeoutMs} ms: ${this.recentErrors()}`));
      }, timeoutMs);
      lines.on('line', (line) => {
        let value: T | undefined;
        try {
          value = pick(line);
        } catch {
          value = undefined;
        }
        if (value !== undefined) {
          clearTimeout(timer);
          lines.close();
          // Keep draining the pipe so that a chatty child never blocks on it.
          input.resume();
          resolve(value);
        }
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before it was ready: ${this.recentErrors()}`));
      });
    });
  }

  async stop(graceMs = 15_000): Promise<number | string> {
    if (!this.alive) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resident set size in bytes (VmRSS from /proc). */
  rss(): number {
    return processRss(this.pid);
  }

  /** User plus system CPU time of the process (all threads), in milliseconds, from /proc. */
  cpuMs(): number {
    const { user, system } = processCpu(this.pid);
    return user + system;
  }

  /** User and system (kernel) CPU time of the process (all threads), in milliseconds. */
  cpu(): { user: number; system: number } {
    return processCpu(this.pid);
  }
}

const CLOCK_TICKS = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** The kernel's clock ticks per second, the unit of CPU times in /proc. */
export function clockTicks(): number {
  return CLOCK_TICKS;
}

/** Resident set size of the process in bytes (VmRSS from /proc), or NaN when unreadable. */
export function processRss(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

export function processCpu(pid: number): { user: number; system: number } {
  return statCpu(`/proc/${pid}/stat`);
}

/** User and system CPU time (ms) from a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` file; NaN when unreadable. */
export function statCpu(file: string): { user: number; system: number } {
  try {
    const stat = readFileSync(file, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      user: (Number(fields[11]) * 1000) / CLOCK_TICKS,
      system: (Number(fields[12]) * 1000) / CLOCK_TICKS,
    };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** Stops every child still running (used on errors and signals). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(5_000)));
}

export function spawnProcess(
  name: string,
  command: string,
  args: readonly string[],
  placement: Placement,
  core: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedChild {
  const argv = placement.pin ? ['-c', core, command, ...args] : args;
  const child = spawn(placement.pin ? 'taskset' : command, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: ROOT,
    env,
  });
  return new ManagedChild(name, child);
}

function spawnNode(
  name: string,
  args: readonly string[],
  placement: Placement,
  core: string,
  env = {},
): ManagedChild {
  const argv = [process.execPath, ...args];
  const [command, ...rest] = placement.pin ? ['taskset', '-c', core, ...argv] : argv;
  const child = spawn(command as string, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    cwd: ROOT,
  });
  return new ManagedChild(name, child);
}

/**
 * Node.js options of every broker process. Pinned, the broker has one core, and it runs with the setting
 * docs/operations.md recommends for a broker on one CPU (`--single-threaded-gc`: V8's GC helper threads
 * would otherwise take that core from the event loop in the middle of a request). `HERALD_BENCH_BROKER_NODE_FLAGS`
 * replaces them (an empty value: none).
 */
export function brokerNodeFlags(placement: Placement, defaults?: readonly string[]): string[] {
  const configured = process.env['HERALD_BENCH_BROKER_NODE_FLAGS'];
  if (configured !== undefined) return configured.split(' ').filter(Boolean);
  if (defaults !== undefined) return [...defaults];
  return placement.pin ? ['--single-threaded-gc'] : [];
}

/** `HERALD_BENCH_BROKER_ARGS`: extra broker options for every broker (e.g. `--durability buffered`). */
const EXTRA_BROKER_ARGS = (process.env['HERALD_BENCH_BROKER_ARGS'] ?? '').split(' ').filter(Boolean);

export interface BrokerHandle {
  readonly url: string;
  readonly adminUrl: string;
  readonly process: ManagedChild;
  readonly dataDir: string;
  /** Stops the broker, removes its data, and returns the path of its CPU profile (when profiled). */
  stop(): Promise<string | undefined>;
}

export interface BrokerStartOptions {
  readonly placement: Placement;
  readonly args?: readonly string[];
  /** Directory for a `node --cpu-prof` profile of the broker process. */
  readonly cpuProfDir?: string;
  readonly name?: string;
  /** An existing data directory to open (kept on stop); default: a fresh one, removed on stop. */
  readonly dataDir?: string;
  /**
   * Node.js options instead of the placement's (`brokerNodeFlags`); `HERALD_BENCH_BROKER_NODE_FLAGS`
   * still replaces them.
   */
  readonly nodeFlags?: readonly string[];
}

/** Starts `herald broker` from the built CLI with a fresh data directory on disk (not tmpfs). */
export async function startBroker(options: BrokerStartOptions): Promise<BrokerHandle> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const keepData = options.dataDir !== undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'herald-bench-'));
  const prof =
    options.cpuProfDir === undefined
      ? []
      : [
          '--cpu-prof',
          '--cpu-prof-dir',
          options.cpuProfDir,
          '--cpu-prof-name',
          `${options.name ?? 'broker'}.cpuprofile`,
        ];
  const child = spawnNode(
    options.name ?? 'herald broker',
    [
      ...brokerNodeFlags(options.placement, options.nodeFlags),
      ...prof,
      CLI,
      'broker',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      // Bench sinks listen on 127.0.0.1, which the default --sink-deny refuses.
      '--sink-allow',
      '127.0.0.1/32',
      ...EXTRA_BROKER_ARGS,
      ...(options.args ?? []),
    ],
    options.placement,
    SERVER_CORE,
    { HERALD_LOG_LEVEL: 'info' },
  );
  try {
    const ports = await child.waitForLine((line) =>
      line.includes('herald broker listening')
        ? (JSON.parse(line) as { port: number; adminPort: number })
        : undefined,
    );
    return {
      url: `http://127.0.0.1:${ports.port}`,
      adminUrl: `http://127.0.0.1:${ports.adminPort}`,
      process: child,
      dataDir,
      async stop() {
        await child.stop(30_000);
        if (!keepData) rmSync(dataDir, { recursive: true, force: true });
        if (options.cpuProfDir === undefined) return undefined;
        const file = path.join(options.cpuProfDir, `${options.name ?? 'broker'}.cpuprofile`);
        return existsSync(file) ? file : undefined;
      },
    };
  } catch (error) {
    await child.stop(2_000);
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface ServerHandle {
  readonly url: string;
  readonly process: ManagedChild;
  stop(): Promise<void>;
}

async function startHelper(
  name: string,
  script: string,
  placement: Placement,
  core: string,
  env: Record<string, string> = {},
): Promise<ServerHandle> {
  const child = spawnNode(name, [path.join(LIB, script)], placement, core, env);
  try {
    const port = await child.waitForLine((line) => (JSON.parse(line) as { port?: number }).port);
    return {
      url: `http://127.0.0.1:${port}`,
      process: child,
      async stop() {
        await child.stop(5_000);
      },
    };
  } catch (error) {
    await child.stop(2_000);
    throw error;
  }
}

/** The bare `node:http` baseline: reads the body and answers 202, nothing else. On the server core. */
export function startBaselineServer(placement: Placement): Promise<ServerHandle> {
  return startHelper('baseline http server', 'baseline-server.js', placement, SERVER_CORE);
}

/**
 * The durable floor (bench/lib/durable-floor.ts): parses each body and answers after one write and one
 * `fdatasync` per event-loop turn. On the server core, with the bare baseline's Node.js options.
 */
export function startDurableFloorServer(placement: Placement): Promise<ServerHandle> {
  return startHelper('durable floor server', 'durable-server.js', placement, SERVER_CORE);
}

/**
 * The JetStream floor (bench/lib/jetstream-floor.ts): parses each body and answers once JetStream
 * acknowledged it, publishing a turn's events together. On the server core, beside nats-server.
 */
export function startJetStreamFloorServer(placement: Placement, natsUrl: string): Promise<ServerHandle> {
  return startHelper('JetStream floor server', 'jetstream-floor-server.js', placement, SERVER_CORE, {
    NATS_URL: natsUrl,
  });
}

/** The lean sink; it shares the load core with the load generator. */
export function startSinkProcess(placement: Placement): Promise<ServerHandle> {
  return startHelper('bench sink', 'sink-server.js', placement, LOAD_CORE);
}

/**
 * Runs one of test/infra's build scripts and returns the binary path it prints. The bench process is
 * pinned to the load core and children inherit that, so the build is given every core back.
 */
export function buildInfra(script: string, log: (line: string) => void): string {
  const file = path.join(ROOT, script);
  const everyCore = `0-${Math.max(0, cpus().length - 1)}`;
  const [command, args] = tasksetAvailable()
    ? ['taskset', ['-c', everyCore, 'bash', file]]
    : ['bash', [file]];
  log(`  bash ${script} (builds once, then answers from the cache)`);
  const started = performance.now();
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const binary = result.stdout?.trim().split('\n').pop() ?? '';
  if (result.status !== 0 || binary === '') throw new Error(`bash ${script} failed (exit ${result.status})`);
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 5) log(`  built ${binary} in ${seconds.toFixed(0)} s`);
  return binary;
}
