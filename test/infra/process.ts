// Shared helpers for the test-infrastructure harnesses: binary lookup, free loopback ports, child-process
// supervision (no orphans), and polling.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Directory holding the binaries built by test/infra/{nats,k8s}/build.sh. */
export function infraBinDir(): string {
  const cache = process.env['HERALD_CACHE'] ?? join(homedir(), '.cache', 'herald');
  return join(cache, 'bin');
}

/**
 * Resolves a binary from an environment override or the infra cache. Throws (never skips) when it is
 * missing, naming the build script to run.
 */
export function resolveInfraBinary(envVar: string, name: string, buildScript: string): string {
  const override = process.env[envVar];
  const path = override !== undefined && override !== '' ? override : join(infraBinDir(), name);
  if (!existsSync(path)) {
    throw new Error(
      `${name} binary not found at ${path}. Build it with \`bash ${buildScript}\` ` +
        `(or set ${envVar} to an existing binary).`,
    );
  }
  return path;
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not allocate a free port'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

/** Distinct free ports (kept distinct even if the kernel hands the same one out twice). */
/** `count` distinct free ports, none of them in `exclude` (ports the caller holds for a server not yet up). */
export async function freePorts(count: number, exclude: readonly number[] = []): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = await freePort();
    if (!exclude.includes(port)) ports.add(port);
  }
  return [...ports];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns a value other than undefined, or throws after `timeoutMs` with the last
 * error seen. `check` may throw; that counts as "not yet".
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted !== undefined) throw new Error(`${what}: ${aborted}`);
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/**
 * Sends `signal` to `child` and resolves with its exit code, or the name of the signal that ended it. A
 * child still running `graceMs` later is killed (and says so on stderr), so a process that does not exit
 * fails what waited for it (its result is then 'SIGKILL') instead of hanging a suite's teardown.
 */
export function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode ?? '');
  return new Promise((resolve) => {
    const kill = setTimeout(() => {
      process.stderr.write(`process ${child.pid} still running ${graceMs} ms after ${signal}: SIGKILL\n`);
      child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', (code, sig) => {
      clearTimeout(kill);
      resolve(code ?? sig ?? '');
    });
    child.kill(signal);
  });
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run ends without calling stop(): SIGKILL every live child, delete temp dirs.
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Creates a temporary directory that is deleted by removeTempDir() or, at the latest, when the process exits. */
export function makeTempDir(prefix: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// A watchdog per child: a tiny shell loop that outlives the test process if that dies without running its
// exit hooks (vitest ends workers abruptly; a runner may be SIGKILLed). When the test process is gone it
// terminates the child (SIGTERM, SIGKILL after 5 s) and deletes the child's temporary directory. It exits
// by itself as soon as the child exits.
const WATCHDOG = [
  'p=$1; c=$2; d=$3',
  'while kill -0 "$p" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 1; done',
  'if ! kill -0 "$p" 2>/dev/null; then',
  '  kill -TERM "$c" 2>/dev/null',
  '  i=0; while kill -0 "$c" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
  '  kill -KILL "$c" 2>/dev/null',
  '  if [ -n "$d" ]; then rm -rf -- "$d"; fi',
  'fi',
].join('\n');

function startWatchdog(childPid: number, cleanupDir: string | undefined): ChildProcess {
  const dog = spawn(
    '/bin/sh',
    ['-c', WATCHDOG, 'herald-watchdog', String(process.pid), String(childPid), cleanupDir ?? ''],
    {
      stdio: 'ignore',
      detached: false,
    },
  );
  dog.on('error', () => undefined);
  dog.unref();
  return dog;
}

/** A supervised child process whose recent output is kept for error messages. */
export class ManagedProcess {
  readonly child: ChildProcess;
  private readonly output: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    command: string,
    args: readonly string[],
    opts: {
      cwd?: string;
      env?: NodeJS.ProcessEnv;
      maxOutputLines?: number;
      /** Deleted by the watchdog if the test process dies while the child still runs. */
      cleanupDir?: string;
    } = {},
  ) {
    installExitHook();
    const max = opts.maxOutputLines ?? 200;
    const echo = process.env['HERALD_INFRA_LOGS'] === '1';
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    live.add(this.child);
    const dog = this.child.pid !== undefined ? startWatchdog(this.child.pid, opts.cleanupDir) : undefined;
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        this.output.push(line);
        if (this.output.length > max) this.output.shift();
        if (echo) process.stderr.write(`[${label}] ${line}\n`);
      }
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this.child);
        dog?.kill('SIGKILL');
        resolve();
      });
      this.child.once('error', (err) => {
        this.output.push(`spawn error: ${err.message}`);
        this.exitInfo ??= { code: null, signal: null };
        live.delete(this.child);
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** undefined while running; otherwise a description of how it ended. */
  exitDescription(): string | undefined {
    if (this.exitInfo === undefined) return undefined;
    const { code, signal } = this.exitInfo;
    return `${this.label} exited (${signal !== null ? `signal ${signal}` : `code ${String(code)}`})`;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  recentOutput(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }

  /** Retained output lines matching `pattern` (e.g. only error lines), at most the last `lines`. */
  matchingOutput(pattern: RegExp, lines = 20): string {
    return this.output
      .filter((l) => pattern.test(l))
      .slice(-lines)
      .join('\n');
  }

  /** Sends `signal`; resolves when the process has exited, or after `waitMs` (0: do not wait). */
  async signal(signal: NodeJS.Signals, waitMs: number): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    if (waitMs > 0) await Promise.race([this.exited, sleep(waitMs)]);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (or signal) once the process is gone. */
  async stop(graceMs = 10_000): Promise<number | string> {
    // Also a child that never started (no 'exit' would come).
    if (this.exitInfo !== undefined) return this.exitInfo.code ?? this.exitInfo.signal ?? '';
    const result = await stopChild(this.child, 'SIGTERM', graceMs);
    await this.exited;
    return result;
  }

  waitExit(): Promise<void> {
    return this.exited;
  }
}
