// Acceptance: `herald broker --help` documents every option; invalid configuration makes the CLI exit
// non-zero with one stderr line per problem; a YAML config file and HERALD_* variables are honoured.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_OPTIONS } from '../../src/config/index.js';
import { freePorts } from '../infra/process.js';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import { binaryHeaders, readLog, send, sleep } from '../support/http.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-cli-'));
afterAll(() => removeDir(dir));

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (for commands that exit by themselves). */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`herald ${args.join(' ')} did not exit: ${stdout}${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const stderrLines = (exit: Exit) => exit.stderr.split('\n').filter((line) => line !== '');

function yamlFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('herald broker --help', () => {
  it('lists every option with its environment variable and exits 0', async () => {
    const exit = await run(['broker', '--help']);
    expect(exit.code).toBe(0);
    for (const option of BROKER_OPTIONS) {
      expect(exit.stdout).toContain(
        option.kind === 'boolean' ? `--${option.name}, --no-${option.name} ` : `--${option.name} <`,
      );
      expect(exit.stdout).toContain(`HERALD_${option.name.toUpperCase().replaceAll('-', '_')}`);
    }
    expect(exit.stdout).toContain('--config');
  });
});

describe('invalid configuration', () => {
  it('exits non-zero with one line per problem, each naming its option', async () => {
    const file = yamlFile('bad.yaml', 'colour: blue\nshutdown-timeout: forever\n');
    const exit = await run(
      ['broker', '--port', 'abc', '--max-event-size', '10', '--bogus', '--config', file, '--data-dir', dir],
      { HERALD_DURABILITY: 'maybe' },
    );
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const lines = stderrLines(exit);
    const expected = [
      '--port',
      '--max-event-size',
      '--bogus',
      '--durability (from HERALD_DURABILITY)',
      `unknown option 'colour'`,
      `--shutdown-timeout (from ${file})`,
    ];
    expect(lines).toHaveLength(expected.length);
    for (const needle of expected) {
      expect(
        lines.filter((line) => line.includes(needle)),
        needle,
      ).toHaveLength(1);
    }
    expect(exit.stdout).not.toContain('herald broker listening');
  });

  it.each<[string, readonly string[], Record<string, string>, string]>([
    ['a non-numeric port', ['--port', 'abc'], {}, '--port'],
    ['an event size under 64KiB', ['--max-event-size', '10'], {}, '--max-event-size'],
    ['an unknown flag', ['--no-such-flag'], {}, '--no-such-flag'],
    ['HERALD_DURABILITY=maybe', [], { HERALD_DURABILITY: 'maybe' }, 'HERALD_DURABILITY'],
  ])('rejects %s', async (_name, args, env, needle) => {
    const exit = await run(['broker', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, ...args], env);
    expect(exit.code).not.toBe(0);
    const lines = stderrLines(exit);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(needle);
  });
});

describe('a port that cannot be opened', () => {
  it('exits 1 naming the port, also when only the admin port is taken (the data port was open by then)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      const data = mkdtempSync(path.join(dir, 'admin-port-'));
      const exit = await run([
        'broker',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--admin-port',
        String(taken),
        '--data-dir',
        data,
      ]);
      expect(exit.code).toBe(1);
      expect(exit.stderr).toContain('EADDRINUSE');
      expect(exit.stderr).toContain(String(taken));
    } finally {
      blocker.close();
    }
  });
});

describe('configuration sources', () => {
  it('honours a YAML config file, and HERALD_* over the file', async () => {
    const [filePort, envPort] = await freePorts(2);
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    const file = yamlFile(
      'good.yaml',
      `host: 127.0.0.1\nport: ${filePort}\ndata-dir: ${dataDir}\ndedupe-window: 1s\nlog-level: info\n`,
    );

    // From the file alone: its port.
    const child = spawn(process.execPath, [CLI, 'broker', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const port = await listeningPort(child);
    expect(port).toBe(filePort);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(await stop(child), outputs.get(child)?.join('')).toBe(0);

    // The environment overrides the file.
    const overridden = spawn(process.execPath, [CLI, 'broker', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HERALD_PORT: String(envPort) },
    });
    expect(await listeningPort(overridden)).toBe(envPort);
    // An answered request also proves start-up finished (the CLI installs its SIGTERM handler after that).
    expect((await fetch(`http://127.0.0.1:${envPort}/healthz`)).status).toBe(200);
    expect(await stop(overridden), outputs.get(overridden)?.join('')).toBe(0);
    removeDir(dataDir);
  });

  it('honours the dedupe window of a YAML file (flags still override its port)', async () => {
    const file = yamlFile('dedupe.yaml', 'dedupe-window: 3s\nport: 1\n');
    const broker = await startBroker({ args: ['--config', file] });
    try {
      await send(broker.url, { headers: binaryHeaders('dup') });
      await send(broker.url, { headers: binaryHeaders('dup') });
      expect(await readLog(broker.adminUrl)).toHaveLength(1);
      await sleep(3_500);
      await send(broker.url, { headers: binaryHeaders('dup') });
      expect(await readLog(broker.adminUrl)).toHaveLength(2);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });

  it('honours HERALD_* environment variables', async () => {
    const broker = await startBroker({ env: { HERALD_MAX_EVENT_SIZE: '64KiB' } });
    try {
      const body = 'x'.repeat(70_000);
      const response = await send(broker.url, {
        headers: binaryHeaders('env', { 'content-type': 'text/plain' }),
        body,
      });
      expect(response.status).toBe(413);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

const outputs = new Map<ReturnType<typeof spawn>, string[]>();

function listeningPort(child: ReturnType<typeof spawn>): Promise<number> {
  const output: string[] = [];
  outputs.set(child, output);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      output.push(chunk.toString());
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      output.push(chunk.toString());
      for (const line of out.split('\n')) {
        if (line.includes('herald broker listening')) resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${err}`)));
  });
}

function stop(child: ReturnType<typeof spawn>): Promise<number | string | null> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
    child.kill('SIGTERM');
  });
}
