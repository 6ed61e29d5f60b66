import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, useBrokerAndSink } from '../harness/processes.js';

const root = new URL('../../', import.meta.url);
const packageVersion = (
  JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string }
).version;
/** The commit `npm run build` baked in: the clone's HEAD. */
const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();

describe('version', () => {
  const ctx = useBrokerAndSink();

  it('GET /version names the version, the commit it was built from, the Node version and the store', async () => {
    const response = await fetch(`${ctx.broker.adminUrl}/version`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body.commit, 'the commit npm run build baked in (a build older than HEAD? run it)').toBe(head);
    expect(body).toEqual({ version: packageVersion, commit: head, node: process.version, store: 'embedded' });
  });

  it('`herald version` prints the same fields; the store follows the broker options and environment', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      JSON.parse(
        execFileSync(process.execPath, [CLI, 'version', ...args], {
          encoding: 'utf8',
          env: { ...process.env, ...env },
        }),
      ) as Record<string, string>;
    expect(run([])).toEqual({
      version: packageVersion,
      commit: head,
      node: process.version,
      store: 'embedded',
    });
    const nats = ['--nats-url', 'nats://127.0.0.1:4222'];
    expect(run(['--store', 'jetstream', ...nats]).store).toBe('jetstream');
    expect(run(nats, { HERALD_STORE: 'jetstream' }).store).toBe('jetstream');
  });

  it('`herald version --help` prints its usage and exits 0, as every command does (docs/cli.md)', () => {
    // It was read as a broker option: "invalid configuration: --help: unknown option", exit 2.
    const help = execFileSync(process.execPath, [CLI, 'version', '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/^Usage: herald version/);
  });
});
