// `herald tail` against a broker that cannot be reached: like every client command (architecture §8,
// docs/cli.md "Exit status"), exit 1 with one line naming the URL — not reconnecting forever to a
// broker it never reached (a mistyped --url). Resuming after a connection was lost is tested in
// tail-restart.test.ts.
import { describe, expect, it } from 'vitest';
import { freePorts } from '../infra/process.js';
import { runCli } from './run-cli.js';

describe('herald tail', () => {
  it('an unreachable broker: exit 1 with the reason, like the other client commands', async () => {
    const [port] = await freePorts(1);
    const closed = `http://127.0.0.1:${port}`;
    const exit = await runCli(['tail', '--from', 'earliest', '--url', closed], { timeoutMs: 20_000 });
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim()).toBe(`herald: cannot reach the broker at ${closed}: ECONNREFUSED`);
    expect(exit.stdout).toBe('');
  });
});
