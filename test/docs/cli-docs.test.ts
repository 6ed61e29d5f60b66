// Every example of docs/cli.md and docs/client.md runs as written: the shell blocks in order with `herald`
// on the PATH, the JavaScript blocks with node, against a real broker.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, removeDir, startBroker, useBrokerAndSink } from '../harness/processes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The docs assume a broker started as the README starts it (`npm start`), whose sink allowance lets
// local sinks such as http://localhost:3000 through: take the broker arguments from that script.
const startArgs = (
  JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(' broker ')[1]!
  .split(' ');
const env = useBrokerAndSink(() => startBroker({ args: startArgs }));
const dir = mkdtempSync(path.join(tmpdir(), 'herald-docs-'));
afterAll(() => removeDir(dir));

function blocks(file: string, language: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!);
}

function environment(): NodeJS.ProcessEnv {
  const bin = path.join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  const shim = path.join(bin, 'herald');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(shim, 0o755);
  const vars: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    HERALD_URL: env.broker.url,
  };
  delete vars['HERALD_TOKEN'];
  return vars;
}

describe('docs/cli.md', () => {
  it('documents every command, and every example runs as written', () => {
    const sh = blocks('docs/cli.md', 'sh');
    const script = sh.join('\n');
    for (const command of [
      'publish',
      'tail',
      'subscriptions list',
      'subscriptions get',
      'subscriptions create',
      'subscriptions delete',
      'subscriptions pause',
      'subscriptions resume',
      'subscriptions seek',
      'deadletters list',
      'deadletters redrive',
      'match',
      'status',
      'completion',
      'broker',
      'operator',
      'manifests',
      'cesql eval',
    ]) {
      expect(script, command).toContain(`herald ${command}`);
    }
    const output = execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir,
      env: environment(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(output).toContain('order-1');
    expect(output).toContain('"value": true');
  }, 180_000);
});

describe('docs/client.md', () => {
  it('every JavaScript example runs as written', () => {
    const js = blocks('docs/client.md', 'js');
    expect(js.length).toBeGreaterThan(2);
    for (const code of js) {
      const file = path.join(root, `.docs-example-${process.pid}.mjs`);
      writeFileSync(file, code);
      try {
        execFileSync(process.execPath, [file], {
          cwd: root,
          env: environment(),
          encoding: 'utf8',
          timeout: 60_000,
        });
      } finally {
        execFileSync('rm', ['-f', file]);
      }
    }
  }, 180_000);
});
