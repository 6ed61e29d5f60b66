// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import type { MatchedSubscription } from '../../client/index.js';
import { clientFor, connectionOptions, examples, formatOf, readJsonArgument } from './common.js';
import type { ConnectionFlags } from './common.js';
import { print, UsageError } from './output.js';

export function registerMatch(program: Command): void {
  const command = connectionOptions(
    program
      .command('match')
      .requiredOption('--event <json|@file>', 'a CloudEvent in structured JSON, or @FILE')
      .description('dry run: which subscriptions would receive this event (nothing is stored)'),
  );
  examples(command, [
    `herald match --event '{"specversion":"1.0","id":"1","source":"/shop","type":"com.example.order.created"}'`,
    'herald match --event @event.json -o json',
  ]);
  command.action(async (flags: ConnectionFlags & { event: string }) => {
    const event = readJsonArgument('--event', flags.event);
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new UsageError('--event must be a JSON object (a CloudEvent in structured JSON format)');
    }
    const subscriptions = await clientFor(flags).match(event as Record<string, unknown>);
    const format = formatOf(flags);
    if (format === 'table') {
      print<MatchedSubscription>(format, subscriptions, [
        { header: 'ID', value: (s) => s.id },
        { header: 'SINK', value: (s) => s.sink },
      ]);
    } else {
      print(format, { subscriptions }, []);
    }
  });
}
