// The read side of the subscription service: how a definition, a page of them and a page of dead
// letters look to clients. Nothing here changes a subscription.
import { eventToJson } from '../cloudevents/index.js';
import type { SensitiveHeaders } from '../sink-credentials/index.js';
import type { EventStore } from '../store/index.js';
import type { DeliveryControl } from './delivery-port.js';
import type { SubscriptionDefinition, SubscriptionStatus } from './types.js';

/** The Subscriptions API resource as clients see it: no `sinkcredential` (write-only), plus `status`. */
export type SubscriptionView = Omit<
  SubscriptionDefinition,
  'sinkcredential' | 'paused' | 'origin' | 'seed' | 'createdAt' | 'incarnation' | 'seek'
> & {
  readonly status: SubscriptionStatus;
};

/** A dead letter as `GET /subscriptions/{id}/deadletters` lists it. */
export interface DeadLetterView {
  readonly id: string;
  readonly sequence: number;
  readonly attempts: number;
  readonly deadLetteredAt: string;
  readonly error: { readonly code: string; readonly message: string; readonly status?: number | undefined };
  /** The event in the JSON event format. */
  readonly event: Record<string, unknown>;
}

/** `definition` as clients see it, with the status of its delivery here (or what it would start as). */
export function viewOf(
  definition: SubscriptionDefinition,
  sensitive: SensitiveHeaders,
  dispatcher: Pick<DeliveryControl, 'status'>,
): SubscriptionView {
  const {
    sinkcredential: _credential,
    paused: _paused,
    origin: _origin,
    seed: _seed,
    createdAt: _created,
    incarnation: _incarnation,
    seek: _seek,
    protocolsettings,
    ...rest
  } = definition;
  // Sensitive headers are write-only, like the credential.
  const headers = sensitive.visible(protocolsettings?.headers);
  const settings =
    protocolsettings === undefined
      ? undefined
      : { ...protocolsettings, ...(headers === undefined ? { headers: undefined } : { headers }) };
  const visibleSettings =
    settings === undefined
      ? {}
      : {
          protocolsettings: Object.fromEntries(
            Object.entries(settings).filter(([, v]) => v !== undefined),
          ) as NonNullable<SubscriptionDefinition['protocolsettings']>,
        };
  const status = dispatcher.status(definition.id) ?? {
    state: definition.paused ? 'paused' : 'active',
    cursor: 0,
    lag: 0,
    lastDeliveredAt: null,
    lastError: null,
    deadLettered: 0,
  };
  return { ...rest, ...visibleSettings, status };
}

/** One page of subscription `id`'s dead letters, in id order, after the dead letter `after`. */
export async function deadLetterPage(
  store: EventStore,
  id: string,
  limit: number,
  after?: string,
): Promise<{ letters: DeadLetterView[]; last: string | undefined; more: boolean }> {
  // One more than asked tells whether another page follows.
  const letters = await store.listDeadLetters(id, limit + 1, after);
  const page = letters.slice(0, limit);
  return {
    letters: page.map((letter) => ({
      id: letter.id,
      sequence: letter.sequence,
      attempts: letter.attempts,
      deadLetteredAt: new Date(letter.deadLetteredAt).toISOString(),
      error: letter.error,
      event: JSON.parse(eventToJson(letter.event)) as Record<string, unknown>,
    })),
    last: page[page.length - 1]?.id,
    more: letters.length > limit,
  };
}

/** One page of `definitions` in id order, after the subscription `after` (only `owner`'s, when given). */
export function definitionPage(
  definitions: ReadonlyMap<string, SubscriptionDefinition>,
  limit: number,
  after?: string,
  owner?: string,
): { definitions: SubscriptionDefinition[]; more: boolean } {
  const ids = [...definitions.values()]
    .filter((d) => owner === undefined || d.owner === owner)
    .map((d) => d.id)
    .sort();
  let start = 0;
  if (after !== undefined) {
    // The first id above `after` (binary search): stable while subscriptions come and go.
    let high = ids.length;
    while (start < high) {
      const middle = (start + high) >>> 1;
      if ((ids[middle] as string) <= after) start = middle + 1;
      else high = middle;
    }
  }
  const slice = ids.slice(start, start + limit);
  return {
    definitions: slice.map((id) => definitions.get(id) as SubscriptionDefinition),
    more: start + limit < ids.length,
  };
}
