// The read side of the subscription service: how a definition, a page of them and a page of dead
// letters look to clients. Nothing here changes a subscription.
import { eventToJson } from '../cloudevents/index.js';
import type { SensitiveHeaders } from '../sink-credentials/index.js';
import { deadLetterBytes } from '../store/index.js';
import type { DeadLetter, EventStore } from '../store/index.js';
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
  /** Why the subscription cannot start on this broker, when it cannot (it is listed, not delivered). */
  invalid?: NonNullable<SubscriptionStatus['lastError']>,
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
  // Not delivered anywhere by this broker: what its worker would count is not known here.
  const status: SubscriptionStatus | undefined =
    invalid === undefined
      ? dispatcher.status(definition.id)
      : { state: 'invalid', cursor: 0, lag: 0, lastDeliveredAt: null, lastError: invalid, deadLettered: 0 };
  return { ...rest, ...visibleSettings, status: status ?? idle(definition) };
}

/** The status of a subscription this process does not deliver: what it would start as. */
function idle(definition: SubscriptionDefinition): SubscriptionStatus {
  return {
    state: definition.paused ? 'paused' : 'active',
    cursor: 0,
    lag: 0,
    lastDeliveredAt: null,
    lastError: null,
    deadLettered: 0,
  };
}

/** `--dead-letter-page-max-bytes` default (for callers that do not set it). */
export const DEFAULT_DEAD_LETTER_PAGE_BYTES = 4 * 1024 * 1024;

/** One dead letter in the JSON of `GET /subscriptions/{id}/deadletters` (a {@link DeadLetterView}). */
export function deadLetterJson(letter: DeadLetter): string {
  // The event is rendered once, straight into the page: parsing it back to an object to render the page
  // again held each event three times over.
  return `{"id":${JSON.stringify(letter.id)},"sequence":${letter.sequence},"attempts":${letter.attempts},"deadLetteredAt":${JSON.stringify(new Date(letter.deadLetteredAt).toISOString())},"error":${JSON.stringify(letter.error)},"event":${eventToJson(letter.event)}}`;
}

/**
 * One page of subscription `id`'s dead letters, in id order, after the dead letter `after`: at most
 * `limit` letters and, past its first, no more than `maxBytes` of them (as `deadLetterBytes` counts them).
 * A subscription keeps up to `--dead-letter-max-bytes` of letters of up to `--max-event-size` each, and a
 * page of 10,000 held them all. `more` says whether a letter follows `last`, so following pages reads
 * each letter once.
 */
export async function deadLetterPage(
  store: EventStore,
  id: string,
  limit: number,
  after?: string,
  maxBytes = DEFAULT_DEAD_LETTER_PAGE_BYTES,
): Promise<{ letters: DeadLetter[]; last: string | undefined; more: boolean }> {
  // One more than asked, and the letter that takes them over `maxBytes`, tell whether another page follows;
  // the store reads none past that.
  const letters = await store.listDeadLetters(id, limit + 1, after, maxBytes);
  let bytes = 0;
  let taken = 0;
  let more = false;
  for (const letter of letters) {
    const size = deadLetterBytes(letter);
    // A page always holds its first letter, however large: otherwise that letter could never be read.
    if (taken === limit || (taken > 0 && bytes + size > maxBytes)) {
      more = true;
      break;
    }
    bytes += size;
    taken++;
  }
  letters.length = taken;
  const last = letters[taken - 1]?.id;
  if (!more && taken === 1 && bytes > maxBytes && last !== undefined) {
    // The store stopped at this one letter over the cut: whether another follows takes one more look.
    more = (await store.listDeadLetters(id, 1, last)).length > 0;
  }
  return { letters, last, more };
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
