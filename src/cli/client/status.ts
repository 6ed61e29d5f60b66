// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { clientFor, connectionOptions, examples, formatOf } from './common.js';
import type { ConnectionFlags } from './common.js';
import { print, UsageError } from './output.js';

interface Status {
  readonly url: string;
  readonly logEvents: number;
  readonly logBytes: number;
  readonly lastSequence: number;
  /** Events per second accepted by ingress over the sampling interval. */
  readonly publishRate: number;
  /** Events per second delivered over the sampling interval. */
  readonly deliveryRate: number;
  readonly subscriptions: number;
  readonly paused: number;
  readonly failing: number;
  /** Stored subscriptions the broker cannot start within its limits: they deliver nothing. */
  readonly invalid: number;
  readonly totalLag: number;
  readonly deadLetters: number;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function registerStatus(program: Command): void {
  const command = connectionOptions(
    program
      .command('status')
      .option('--interval <ms>', 'how long to sample the rates, in milliseconds (default 1000)')
      .description("the broker's log size, publish and delivery rates, and subscription lag"),
  );
  examples(command, ['herald status', 'herald status --interval 5000 -o json']);
  command.action(async (flags: ConnectionFlags & { interval?: string }) => {
    const interval = flags.interval === undefined ? 1000 : Number(flags.interval);
    if (!Number.isInteger(interval) || interval < 1 || interval > 600_000) {
      throw new UsageError('--interval must be a number of milliseconds from 1 to 600000');
    }
    const client = clientFor(flags);
    const first = await client.snapshot();
    await new Promise((resolve) => setTimeout(resolve, interval));
    const [second, subscriptions] = await Promise.all([client.snapshot(), client.subscriptions.list()]);
    const seconds = (second.at - first.at) / 1000;
    const rate = (a: number, b: number) => Math.round(((b - a) / seconds) * 10) / 10;
    const status: Status = {
      url: flags.url,
      logEvents: second.logEvents,
      logBytes: second.logBytes,
      lastSequence: second.lastSequence,
      publishRate: rate(first.accepted, second.accepted),
      deliveryRate: rate(first.delivered, second.delivered),
      subscriptions: subscriptions.length,
      paused: subscriptions.filter((s) => s.status.state === 'paused').length,
      failing: subscriptions.filter((s) => s.status.state === 'failing').length,
      invalid: subscriptions.filter((s) => s.status.state === 'invalid').length,
      totalLag: subscriptions.reduce((sum, s) => sum + s.status.lag, 0),
      deadLetters: subscriptions.reduce((sum, s) => sum + s.status.deadLettered, 0),
    };
    const format = formatOf(flags);
    if (format !== 'table') {
      print(format, status, []);
      return;
    }
    const rows: Array<[string, string]> = [
      ['broker', status.url],
      ['log', `${status.logEvents} events, ${bytes(status.logBytes)}, last sequence ${status.lastSequence}`],
      ['publish rate', `${status.publishRate} events/s`],
      ['delivery rate', `${status.deliveryRate} events/s`],
      [
        'subscriptions',
        `${status.subscriptions} (${status.paused} paused, ${status.failing} failing, ${status.invalid} invalid)`,
      ],
      ['lag', `${status.totalLag} events`],
      ['dead letters', String(status.deadLetters)],
    ];
    print(format, rows, [
      { header: 'WHAT', value: (r) => r[0] },
      { header: 'VALUE', value: (r) => r[1] },
    ]);
  });
}
