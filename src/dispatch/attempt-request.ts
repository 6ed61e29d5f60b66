import type { StoredEvent } from '../store/index.js';
import type { CompiledSubscription } from '../subscriptions/types.js';
import { buildDelivery } from './sink-client.js';

/**
 * The headers and body of one attempt to deliver `events` (one, or a batch) for `compiled`: the event in
 * the subscription's content mode, its configured headers, `fixedHeaders` (credential, handshake origin)
 * and Herald's own (`Herald-Subscription`, `-Sequence`, `-Attempt`, `-Batch-Size`).
 */
export function attemptRequest(
  compiled: CompiledSubscription,
  events: readonly StoredEvent[],
  attempt: number,
  redelivered: boolean,
  fixedHeaders: Readonly<Record<string, string>> | undefined,
): { headers: Record<string, string>; body: Uint8Array | string } {
  const { plan, definition } = compiled;
  const group = definition.seed?.group;
  const delivered =
    group === undefined ? events : events.map((e) => withSeedExtensions(e, group, redelivered));
  const request = buildDelivery(delivered, plan.contentMode, definition.protocolsettings?.headers ?? {});
  const { headers } = request;
  if (fixedHeaders !== undefined) Object.assign(headers, fixedHeaders);
  headers['herald-subscription'] = definition.id;
  headers['herald-sequence'] = String((events[0] as StoredEvent).sequence);
  headers['herald-attempt'] = String(attempt);
  // Every batch says its size, a batch of one too: a sink need not guess the mode from the body.
  if (plan.contentMode === 'batch') headers['herald-batch-size'] = String(events.length);
  return request;
}

/**
 * The event as a subscription made through the compatibility API (`POST /events/sub`) delivers it: with
 * the extension attributes the original project's channels added to every delivered event, which its
 * consumers read — `subscriptionid` (the id `POST /events/sub` answered, the same for each of its
 * subscribers), `sequence` (the event's place in the log, as a string; `sequencetype` `ulong`, as the
 * original said) and `redelivered` (true from the second attempt on, and on a redrive). They replace a
 * producer's attributes of the same names, as the original's did. A consumer of Herald's own API reads
 * the `Herald-*` headers instead; the stored event is never changed.
 */
function withSeedExtensions(stored: StoredEvent, group: string, redelivered: boolean): StoredEvent {
  const { event } = stored;
  return {
    ...stored,
    event: {
      attributes: {
        ...event.attributes,
        subscriptionid: group,
        sequence: String(stored.sequence),
        sequencetype: 'ulong',
        redelivered,
      },
      data: event.data,
      dataKind: event.dataKind,
    },
  };
}
