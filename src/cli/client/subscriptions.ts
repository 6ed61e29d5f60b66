// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import type { Subscription, SubscriptionInput } from '../../client/index.js';
import {
  clientFor,
  collect,
  connectionOptions,
  examples,
  formatOf,
  keyValues,
  parsePosition,
  readJsonArgument,
} from './common.js';
import type { ConnectionFlags } from './common.js';
import { print, stateColour, UsageError } from './output.js';
import type { Column } from './output.js';

function filterSummary(s: Subscription): string {
  const parts: string[] = [];
  if (s.types !== undefined) parts.push(`types=${s.types.join(',')}`);
  if (s.source !== undefined) parts.push(`source=${s.source}`);
  for (const filter of s.filters ?? []) parts.push(JSON.stringify(filter));
  return parts.join(' ');
}

const COLUMNS: ReadonlyArray<Column<Subscription>> = [
  { header: 'ID', value: (s) => s.id },
  { header: 'STATE', value: (s) => s.status.state, colour: stateColour },
  { header: 'CURSOR', value: (s) => s.status.cursor },
  { header: 'LAG', value: (s) => s.status.lag },
  { header: 'DEAD', value: (s) => s.status.deadLettered },
  { header: 'SINK', value: (s) => s.sink },
  { header: 'FILTER', value: filterSummary },
];

interface CreateFlags extends ConnectionFlags {
  readonly sink?: string;
  readonly source?: string;
  readonly type?: string[];
  readonly filter?: string[];
  readonly exact?: string[];
  readonly prefix?: string[];
  readonly suffix?: string[];
  readonly from?: string;
  readonly contentMode?: string;
  readonly ordering?: string;
  readonly retry?: string;
  readonly deadLetterSink?: string;
  readonly header?: string[];
  readonly spec?: string;
}

/** The request body from flags; `--spec` gives a whole body that the flags then extend. */
function createRequest(flags: CreateFlags): SubscriptionInput {
  const base = flags.spec === undefined ? {} : readJsonArgument('--spec', flags.spec);
  if (typeof base !== 'object' || base === null || Array.isArray(base))
    throw new UsageError('--spec must be a JSON object');
  const body: Record<string, unknown> = { protocol: 'HTTP', ...(base as Record<string, unknown>) };
  if (flags.sink !== undefined) body['sink'] = flags.sink;
  if (body['sink'] === undefined)
    throw new UsageError('subscriptions create needs --sink (or a sink in --spec)');
  if (flags.source !== undefined) body['source'] = flags.source;
  if (flags.type !== undefined) body['types'] = flags.type;
  const filters: unknown[] = Array.isArray(body['filters']) ? [...(body['filters'] as unknown[])] : [];
  for (const dialect of ['exact', 'prefix', 'suffix'] as const) {
    const pairs = keyValues(`--${dialect}`, flags[dialect]);
    if (pairs !== undefined) filters.push({ [dialect]: pairs });
  }
  for (const expression of flags.filter ?? []) filters.push({ sql: expression });
  if (filters.length > 0) body['filters'] = filters;
  if (flags.from !== undefined) body['startAt'] = parsePosition('--from', flags.from);
  const delivery: Record<string, unknown> = {
    ...((body['delivery'] as Record<string, unknown> | undefined) ?? {}),
  };
  if (flags.contentMode !== undefined) delivery['contentMode'] = flags.contentMode;
  if (flags.ordering !== undefined) delivery['ordering'] = flags.ordering;
  if (flags.retry !== undefined) {
    if (!/^\d+$/.test(flags.retry)) throw new UsageError('--retry must be a whole number');
    delivery['retry'] = Number(flags.retry);
  }
  if (flags.deadLetterSink !== undefined) delivery['deadLetterSink'] = flags.deadLetterSink;
  if (Object.keys(delivery).length > 0) body['delivery'] = delivery;
  const headers = keyValues('--header', flags.header);
  if (headers !== undefined)
    body['protocolsettings'] = { ...(body['protocolsettings'] as object | undefined), headers };
  // The broker validates with the same schema; its 400 names the field.
  return body as SubscriptionInput;
}

export function registerSubscriptions(program: Command): void {
  const group = program
    .command('subscriptions')
    .alias('subs')
    .description('list, inspect, create, delete, pause, resume and seek subscriptions');
  examples(group, [
    'herald subscriptions list',
    'herald subscriptions create --sink http://localhost:3000/events --type com.example.order.created',
    'herald subscriptions seek SUBSCRIPTION_ID --to earliest',
  ]);

  const list = connectionOptions(group.command('list').alias('ls').description('list every subscription'));
  examples(list, ['herald subscriptions list', 'herald subscriptions list -o yaml']);
  list.action(async (flags: ConnectionFlags) => {
    print(formatOf(flags), await clientFor(flags).subscriptions.list(), COLUMNS);
  });

  const get = connectionOptions(
    group.command('get').argument('<id>', 'subscription id').description('show one subscription'),
  );
  examples(get, ['herald subscriptions get SUBSCRIPTION_ID -o json']);
  get.action(async (id: string, flags: ConnectionFlags) => {
    print(formatOf(flags), await clientFor(flags).subscriptions.get(id), COLUMNS);
  });

  const create = connectionOptions(
    group
      .command('create')
      .description('create a subscription')
      .option('--sink <url>', 'where events are delivered (http or https)')
      .option('--source <source>', 'only events with this source')
      .option('--type <type>', 'only events of this type (repeatable: any of them)', collect)
      .option('--exact <attr=value>', 'an exact filter (repeatable)', collect)
      .option('--prefix <attr=value>', 'a prefix filter (repeatable)', collect)
      .option('--suffix <attr=value>', 'a suffix filter (repeatable)', collect)
      .option('--filter <cesql>', 'a CloudEvents SQL filter (repeatable: all must hold)', collect)
      .option(
        '--from <position>',
        'where delivery starts: earliest, latest (default), a sequence or an RFC 3339 time',
      )
      .option('--content-mode <mode>', 'binary (default), structured or batch')
      .option('--ordering <ordering>', 'none (default), strict or partitionkey')
      .option('--retry <n>', 'attempts after the first')
      .option('--dead-letter-sink <url>', 'where events go after the last attempt')
      .option('--header <name=value>', 'a header added to every delivery (repeatable)', collect)
      .option('--spec <json|@file>', 'a whole subscription body (JSON); the flags above extend it'),
  );
  examples(create, [
    'herald subscriptions create --sink http://localhost:3000/events --type com.example.order.created --from earliest',
    `herald subscriptions create --sink http://localhost:3000/events --filter "subject LIKE 'eu/%'" --content-mode batch`,
    'herald subscriptions create --spec @subscription.json',
  ]);
  create.action(async (flags: CreateFlags) => {
    const request = createRequest(flags);
    print(formatOf(flags), await clientFor(flags).subscriptions.create(request), COLUMNS);
  });

  for (const [name, description] of [
    ['delete', 'delete a subscription (its cursor and dead letters go with it)'],
    ['pause', 'stop delivering (the cursor stays)'],
    ['resume', 'deliver again from the cursor'],
  ] as const) {
    const command = connectionOptions(
      group.command(name).argument('<id>', 'subscription id').description(description),
    );
    examples(command, [`herald subscriptions ${name} SUBSCRIPTION_ID`]);
    command.action(async (id: string, flags: ConnectionFlags) => {
      const client = clientFor(flags);
      print(formatOf(flags), await client.subscriptions[name](id), COLUMNS);
    });
  }

  const seek = connectionOptions(
    group
      .command('seek')
      .argument('<id>', 'subscription id')
      .requiredOption('--to <position>', 'earliest, latest, a sequence number or an RFC 3339 time')
      .description('move the cursor: replay from earlier or skip ahead'),
  );
  examples(seek, [
    'herald subscriptions seek SUBSCRIPTION_ID --to earliest',
    'herald subscriptions seek SUBSCRIPTION_ID --to 2026-01-01T00:00:00Z',
  ]);
  seek.action(async (id: string, flags: ConnectionFlags & { to: string }) => {
    const to = parsePosition('--to', flags.to);
    print(formatOf(flags), await clientFor(flags).subscriptions.seek(id, to), COLUMNS);
  });
}
