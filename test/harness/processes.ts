import { afterAll, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../infra/process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(root, 'dist/cli/main.js');

/** Resolves with the first stdout line for which `pick` returns a value; rejects if the process exits first. */
function waitForLine<T>(
  child: ChildProcess,
  pick: (line: string) => T | undefined,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const stderr: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error(`${what}: no ready line within ${timeoutMs} ms`)),
      timeoutMs,
    );
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve(value);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready: ${stderr.join('')}`));
    });
  });
}

export interface BrokerProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface BrokerProcessOptions {
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Called with every chunk the process writes to stdout or stderr, from the first one on. */
  readonly onOutput?: (text: string) => void;
}

/**
 * Loopback is denied to sinks by default; test sinks listen on 127.0.0.1, so brokers started here allow
 * exactly that address (a test may pass its own `--sink-allow`, which wins: the last flag counts).
 */
export const TEST_SINK_ALLOWANCE = ['--sink-allow', '127.0.0.1/32'] as const;

/** The arguments of `node` for a test broker: the built CLI on a free loopback port, its data in `dataDir`. */
export function brokerArgv(dataDir: string, args: readonly string[] = []): string[] {
  return [
    CLI,
    'broker',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    ...TEST_SINK_ALLOWANCE,
    ...args,
  ];
}

/** Starts `herald broker` from the built CLI on a free loopback port. */
export async function startBroker(options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'herald-broker-'));
  const child = spawn(process.execPath, brokerArgv(dataDir, options.args), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HERALD_LOG_LEVEL: 'info', ...options.env },
  });
  if (options.onOutput !== undefined) {
    const onOutput = options.onOutput;
    child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
  }
  const ports = await waitForLine(
    child,
    (line) => {
      if (!line.includes('herald broker listening')) return undefined;
      const log = JSON.parse(line) as { port: number; adminPort: number; tls?: boolean };
      return log;
    },
    'herald broker',
  );
  child.stdout?.resume();
  const scheme = ports.tls === true ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${ports.port}`,
    adminUrl: `${scheme}://127.0.0.1:${ports.adminPort}`,
    dataDir,
    child,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, signal, EXIT_WAIT_MS),
  };
}

/**
 * How long a stopped broker or sink may take to exit before it is killed: past the broker's
 * --shutdown-timeout (30 s), so a graceful stop is never cut short, but bounded (see `stopChild`).
 */
const EXIT_WAIT_MS = 45_000;

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface SinkRecord {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly connection: string;
  readonly body: string;
  readonly status: number;
  /** The connection closed before the sink answered (e.g. the broker was killed): not a delivery it saw. */
  readonly unanswered: boolean;
}

export interface SinkBehaviour {
  status?: number;
  failTimes?: number;
  failStatus?: number;
  retryAfter?: number;
  delayMs?: number;
  delayByKey?: Record<string, number>;
  /** Holds only the first request carrying each of these `ce-id`s this long (ms); later ones as usual. */
  delayFirstById?: Record<string, number>;
  /** Holds the first request carrying each of these `ce-id`s until `release()`. */
  holdFirstById?: string[];
}

export interface SinkProcess {
  readonly url: string;
  configure(behaviour: SinkBehaviour): Promise<void>;
  received(): Promise<SinkRecord[]>;
  maxInFlight(): Promise<number>;
  /**
   * Most requests the broker held open at once: received, and neither answered nor given up by the
   * broker (its connection closed). `maxInFlight` also counts requests the broker gave up on.
   */
  maxOpen(): Promise<number>;
  /** Requests the sink holds right now (received, not yet answered). */
  inFlight(): Promise<number>;
  clear(): Promise<void>;
  /** Answers every request `holdFirstById` holds. */
  release(): Promise<void>;
  /** Resolves once `predicate` holds for what the sink received; rejects after `timeoutMs`. */
  waitFor(predicate: (records: SinkRecord[]) => boolean, timeoutMs?: number): Promise<SinkRecord[]>;
  stop(): Promise<number | string>;
}

/** Starts a recording HTTP sink in a separate process. */
export async function startSink(): Promise<SinkProcess> {
  const child = spawn(process.execPath, [path.join(root, 'test/harness/sink-server.mjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await waitForLine(child, (line) => (JSON.parse(line) as { port: number }).port, 'sink');
  const url = `http://127.0.0.1:${port}`;
  const state = async () =>
    (await (await fetch(`${url}/_received`)).json()) as {
      received: SinkRecord[];
      maxInFlight: number;
      inFlight: number;
      maxOpen: number;
    };
  const sink: SinkProcess = {
    url,
    async configure(behaviour) {
      await fetch(`${url}/_control`, { method: 'POST', body: JSON.stringify(behaviour) });
    },
    received: async () => (await state()).received,
    maxInFlight: async () => (await state()).maxInFlight,
    maxOpen: async () => (await state()).maxOpen,
    inFlight: async () => (await state()).inFlight,
    async clear() {
      await fetch(`${url}/_received`, { method: 'DELETE' });
    },
    async release() {
      await fetch(`${url}/_release`, { method: 'POST' });
    },
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records = await sink.received();
        if (predicate(records)) return records;
        if (Date.now() > deadline) {
          throw new Error(
            `sink condition not met within ${timeoutMs} ms (received ${records.length} requests)`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop: () => stopChild(child, 'SIGTERM', EXIT_WAIT_MS),
  };
  return sink;
}

/** Decodes a recorded body. */
export function bodyText(record: SinkRecord): string {
  return Buffer.from(record.body, 'base64').toString('utf8');
}

/**
 * Starts a broker (with `options`) before the enclosing suite's tests and stops it, removing its data
 * directory, after them; `broker` is set once it is up.
 */
export function useBroker(options: BrokerProcessOptions = {}): { broker: BrokerProcess } {
  const context = {} as { broker: BrokerProcess };
  beforeAll(async () => {
    context.broker = await startBroker(options);
  });
  afterAll(async () => {
    await context.broker?.stop();
    if (context.broker !== undefined) removeDir(context.broker.dataDir);
  });
  return context;
}

export interface BrokerAndSink {
  broker: BrokerProcess;
  sink: SinkProcess;
}

/**
 * Starts a broker and a recording sink before the enclosing suite's tests, and stops both (removing the
 * broker's data directory) after them. Tests may replace `broker` (e.g. after a restart).
 */
export function useBrokerAndSink(start: () => Promise<BrokerProcess> = () => startBroker()): BrokerAndSink {
  const context = {} as BrokerAndSink;
  beforeAll(async () => {
    [context.broker, context.sink] = await Promise.all([start(), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([context.broker?.stop(), context.sink?.stop()]);
    if (context.broker !== undefined) removeDir(context.broker.dataDir);
  });
  return context;
}

/**
 * A broker starter for one test file: each call starts a broker with `args`; all of them are stopped
 * (and their data directories removed) after the file's tests.
 */
export function useBrokers(): (args?: string[]) => Promise<BrokerProcess> {
  const brokers: BrokerProcess[] = [];
  afterAll(async () => {
    for (const b of brokers) {
      await b.stop();
      removeDir(b.dataDir);
    }
  });
  return async (args = []) => {
    const started = await startBroker({ args });
    brokers.push(started);
    return started;
  };
}

/**
 * A broker started with `args` and started again on the same data directory (after a SIGKILL, say): each
 * call starts one, on `dataDir` when given; after the file's tests every one is killed (SIGKILL: some are
 * already) and the first one's data directory removed.
 */
export function useRestartedBroker(args: readonly string[]): (dataDir?: string) => Promise<BrokerProcess> {
  const brokers: BrokerProcess[] = [];
  afterAll(async () => {
    for (const broker of brokers) await broker.stop('SIGKILL');
    if (brokers[0] !== undefined) removeDir(brokers[0].dataDir);
  });
  return async (dataDir) => {
    const broker = await startBroker({ args, ...(dataDir === undefined ? {} : { dataDir }) });
    brokers.push(broker);
    return broker;
  };
}
