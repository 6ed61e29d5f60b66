// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import type { DeadLetter } from '../../client/index.js';
import { clientFor, collect, connectionOptions, examples, formatOf, positiveInteger } from './common.js';
import type { ConnectionFlags } from './common.js';
import { print, ProgressBar } from './output.js';
import type { Column } from './output.js';

const COLUMNS: ReadonlyArray<Column<DeadLetter>> = [
  { header: 'ID', value: (d) => d.id },
  { header: 'SEQUENCE', value: (d) => d.sequence },
  { header: 'ATTEMPTS', value: (d) => d.attempts },
  { header: 'AT', value: (d) => d.deadLetteredAt },
  {
    header: 'ERROR',
    value: (d) => `${d.error.code}${d.error.status === undefined ? '' : ` (${d.error.status})`}`,
  },
  { header: 'TYPE', value: (d) => d.event['type'] },
  { header: 'EVENT ID', value: (d) => d.event['id'] },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function registerDeadLetters(program: Command): void {
  const group = program
    .command('deadletters')
    .alias('dlq')
    .description('inspect and redrive dead letters of a subscription');
  examples(group, [
    'herald deadletters list SUBSCRIPTION_ID',
    'herald deadletters redrive SUBSCRIPTION_ID --wait',
  ]);

  const list = connectionOptions(
    group
      .command('list')
      .argument('<subscription>', 'subscription id')
      .option('--limit <n>', 'at most this many (default 100)', positiveInteger('--limit'))
      .description("list a subscription's dead letters"),
  );
  examples(list, [
    'herald deadletters list SUBSCRIPTION_ID',
    'herald deadletters list SUBSCRIPTION_ID --limit 5 -o yaml',
  ]);
  list.action(async (subscription: string, flags: ConnectionFlags & { limit?: number }) => {
    const letters = await clientFor(flags).deadLetters.list(subscription, {
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
    });
    print(formatOf(flags), letters, COLUMNS);
  });

  const redrive = connectionOptions(
    group
      .command('redrive')
      .argument('<subscription>', 'subscription id')
      .option('--id <id>', 'only this dead letter (repeatable; default: all)', collect)
      .option(
        '--wait',
        'wait (with a progress bar on a terminal) until the broker has taken every letter for redelivery',
      )
      .description('deliver dead letters again'),
  );
  examples(redrive, [
    'herald deadletters redrive SUBSCRIPTION_ID',
    'herald deadletters redrive SUBSCRIPTION_ID --id 17 --id 18 --wait',
  ]);
  redrive.action(async (subscription: string, flags: ConnectionFlags & { id?: string[]; wait?: boolean }) => {
    const client = clientFor(flags);
    // Every page: a subscription may keep more letters than one page holds (--dead-letter-max-letters).
    const before =
      flags.wait === true
        ? new Set((await client.deadLetters.all(subscription)).map((d) => d.id))
        : new Set<string>();
    const redriving = await client.deadLetters.redrive(subscription, flags.id);
    if (flags.wait === true && redriving > 0) {
      // A letter leaves the list once its redrive ended; what failed again comes back under a new id.
      const waitingFor = flags.id === undefined ? before : new Set(flags.id);
      const bar = new ProgressBar(redriving, 'letters');
      let gone = 0;
      for (;;) {
        const left = new Set((await client.deadLetters.all(subscription)).map((d) => d.id));
        const now = [...waitingFor].filter((id) => !left.has(id)).length;
        bar.tick(now - gone);
        gone = now;
        if (gone >= waitingFor.size) break;
        await sleep(200);
      }
      bar.finish();
    }
    print(formatOf(flags), { subscription, redriving }, [
      { header: 'SUBSCRIPTION', value: (r) => r.subscription },
      { header: 'REDRIVING', value: (r) => r.redriving },
    ]);
  });
}
