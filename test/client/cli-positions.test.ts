// A position given to `herald tail --from`, `subscriptions create --from` or `subscriptions seek --to` that
// is no sequence or no RFC 3339 time is bad usage (docs/cli.md: exit 2, one line naming the flag), found
// before anything is sent: not a stack trace, and not a time `Date.parse` rolls over (30 February is
// 2 March) or reads in the machine's zone (no offset), which the broker then refuses with exit 1.
import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { publish, subscribe } from '../harness/client.js';
import { runCli } from './run-cli.js';

const env = useBrokerAndSink();

const BAD_POSITIONS = [
  // Past Number.MAX_SAFE_INTEGER: no sequence a log reaches.
  '99999999999999999999',
  '2026-02-30T00:00:00Z',
  '2026-01-01T00:00:00',
  '2026-01-01T25:00:00Z',
];

describe('positions the client commands refuse as bad usage', () => {
  for (const position of BAD_POSITIONS) {
    it(`herald tail --from ${position}`, async () => {
      const exit = await runCli(['tail', '--url', env.broker.url, '--from', position, '--limit', '1']);
      expect(exit.stderr).toBe(
        `herald: --from must be earliest, latest, a sequence number or an RFC 3339 time, got ${JSON.stringify(position)}\n`,
      );
      expect(exit.code).toBe(2);
    });

    it(`herald subscriptions create --from ${position} and seek --to ${position}`, async () => {
      const create = await runCli([
        'subscriptions',
        'create',
        '--url',
        env.broker.url,
        '--sink',
        env.sink.url,
        '--from',
        position,
      ]);
      expect(create.stderr).toBe(
        `herald: --from must be earliest, latest, a sequence number or an RFC 3339 time, got ${JSON.stringify(position)}\n`,
      );
      expect(create.code).toBe(2);

      const { id } = await subscribe(env.broker.url, { sink: env.sink.url });
      const seek = await runCli(['subscriptions', 'seek', id, '--url', env.broker.url, '--to', position]);
      expect(seek.stderr).toBe(
        `herald: --to must be earliest, latest, a sequence number or an RFC 3339 time, got ${JSON.stringify(position)}\n`,
      );
      expect(seek.code).toBe(2);
    });
  }

  it('takes a time with an offset and a sequence', async () => {
    await publish(env.broker.url, { id: 'positions-1' });
    for (const position of ['2026-01-01T01:00:00+01:00', '1']) {
      const tail = await runCli(['tail', '--url', env.broker.url, '--from', position, '--limit', '1']);
      expect(tail.code, tail.stderr).toBe(0);
      expect((JSON.parse(tail.stdout) as { event: { id: string } }).event.id).toBe('positions-1');
    }
  });
});
