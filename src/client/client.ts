// SPDX-License-Identifier: Apache-2.0
import type {
  DeadLetterView,
  StartPosition,
  SubscriptionRequest,
  SubscriptionView,
} from '../subscriptions/index.js';
import { Connection } from './http.js';
import type { EventInput, StructuredEvent } from './events.js';
import { encodeEvent } from './events.js';
import { Publisher } from './publisher.js';
import type { PublisherOptions } from './publisher.js';
import { tailEvents } from './tail.js';
import type { TailedEvent, TailOptions } from './tail.js';

/** A subscription as the broker returns it (the Subscriptions API resource plus `status`). */
export type Subscription = SubscriptionView;
/** The body of `POST /subscriptions`: the same schema the broker validates with. */
export type SubscriptionInput = SubscriptionRequest;
/** A dead letter of a subscription. */
export type DeadLetter = DeadLetterView;
/** `seek` targets: `earliest`, `latest`, `{ sequence }` or `{ time }`. */
export type SeekTarget = StartPosition;

export interface MatchedSubscription {
  readonly id: string;
  readonly sink: string;
}

export interface LogPage {
  readonly events: ReadonlyArray<{ readonly sequence: number; readonly event: StructuredEvent }>;
  /** The sequence to ask for next. */
  readonly next: number;
}

/** What `GET /metrics` says about the log and the traffic, at one moment. */
export interface BrokerSnapshot {
  readonly at: number;
  readonly logEvents: number;
  readonly logBytes: number;
  readonly lastSequence: number;
  readonly accepted: number;
  readonly delivered: number;
  readonly deadLettered: number;
}

export interface HeraldClientOptions extends PublisherOptions {
  /** The broker, e.g. `http://localhost:8080` (publishing and, without `adminUrl`, everything else). */
  readonly url: string;
  /** The admin port's URL when the broker serves the control API there (`--admin-port`). */
  readonly adminUrl?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly fetch?: typeof fetch;
  /** How long each request waits for the answer's headers, in ms (default 30,000; 0 waits for ever). */
  readonly timeoutMs?: number;
}

const path = (id: string) => `/subscriptions/${encodeURIComponent(id)}`;
/** Dead letters asked for per page by `deadLetters.all` (the broker answers at most 10,000). */
const DEAD_LETTERS_PAGE = 1000;
/** `deadLetters.list`'s default `limit`, the broker's default page; and the most one page may ask for. */
const DEAD_LETTERS_LIST = 100;
const MAX_DEAD_LETTERS_PAGE = 10_000;

/** Parses Prometheus text for the few series `status` shows. */
function metricValue(text: string, name: string, labels?: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels !== undefined && !rest.includes(labels)) continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/**
 * A typed client for one Herald broker: publishing with batching and backpressure, the log tail, the
 * subscriptions and dead-letter API, and the match dry run.
 *
 * @example
 * ```ts
 * const herald = new HeraldClient({ url: 'http://localhost:8080' });
 * await herald.publish({ type: 'com.example.order.created', source: '/shop', data: { id: 1 } });
 * for await (const { sequence, event } of herald.tail({ from: 'earliest' })) console.log(sequence, event.type);
 * ```
 */
export class HeraldClient {
  private readonly data: Connection;
  private readonly admin: Connection;
  private readonly publisher: Publisher;

  constructor(options: HeraldClientOptions) {
    const common = {
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    };
    this.data = new Connection({ url: options.url, ...common });
    this.admin =
      options.adminUrl === undefined ? this.data : new Connection({ url: options.adminUrl, ...common });
    this.publisher = new Publisher(this.data, options);
  }

  /** Publishes one event or several; resolves once the broker durably accepted all of them. */
  publish(events: EventInput | readonly EventInput[]): Promise<void> {
    return this.publisher.publish(events);
  }

  /**
   * Buffers events for publishing and resolves as soon as they are buffered — waiting while the buffer
   * is full. Failures are reported by `flush()` (and `onError`).
   */
  async enqueue(events: EventInput | readonly EventInput[]): Promise<void> {
    await this.publisher.enqueue(events);
  }

  /** Sends everything buffered; rejects with a `PublishError` if any enqueued event failed. */
  flush(): Promise<void> {
    return this.publisher.flush();
  }

  /** Flushes and refuses further events. */
  close(): Promise<void> {
    return this.publisher.close();
  }

  /** Events waiting or in flight. */
  get buffered(): number {
    return this.publisher.buffered;
  }

  /** Follows the log; resumes after disconnects and broker restarts without losing or repeating events. */
  tail(options: TailOptions = {}): AsyncGenerator<TailedEvent> {
    return tailEvents(this.admin, options);
  }

  /** One page of the log (`GET /events`). */
  events(query: { from?: number; limit?: number; filter?: string } = {}): Promise<LogPage> {
    return this.admin.json<LogPage>('GET', '/events', undefined, {
      query: { from: query.from, limit: query.limit, filter: query.filter },
    });
  }

  /** Which subscriptions would receive an event (`POST /match`); nothing is stored. */
  async match(event: EventInput): Promise<MatchedSubscription[]> {
    const encoded = encodeEvent(event);
    const response = await this.admin.request('POST', '/match', {
      body: encoded.json,
      contentType: 'application/cloudevents+json',
    });
    return ((await response.json()) as { subscriptions: MatchedSubscription[] }).subscriptions;
  }

  /** Log size and traffic counters from `GET /metrics`. */
  async snapshot(): Promise<BrokerSnapshot> {
    const response = await this.admin.request('GET', '/metrics');
    const text = await response.text();
    return {
      at: Date.now(),
      logEvents: metricValue(text, 'herald_log_events'),
      logBytes: metricValue(text, 'herald_log_bytes'),
      lastSequence: metricValue(text, 'herald_log_last_sequence'),
      accepted: metricValue(text, 'herald_events_accepted_total'),
      delivered: metricValue(text, 'herald_deliveries_total', 'outcome="delivered"'),
      deadLettered: metricValue(text, 'herald_deliveries_total', 'outcome="deadlettered"'),
    };
  }

  /** Every item of a paged list: the broker links each next page with `Link: <…>; rel="next"`. */
  private async allPages<T>(
    first: string,
    items: (body: unknown) => T[],
    most = Number.POSITIVE_INFINITY,
  ): Promise<T[]> {
    const all: T[] = [];
    for (let next: string | undefined = first; next !== undefined && all.length < most;) {
      const response = await this.admin.request('GET', next);
      all.push(...items(await response.json()));
      next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    }
    return all.slice(0, most);
  }

  readonly subscriptions = {
    /** Every subscription, every page. */
    list: (): Promise<Subscription[]> =>
      this.allPages('/subscriptions?limit=1000', (body) => body as Subscription[]),
    get: (id: string): Promise<Subscription> => this.admin.json('GET', path(id)),
    create: (subscription: SubscriptionInput): Promise<Subscription> =>
      this.admin.json('POST', '/subscriptions', subscription),
    update: (id: string, subscription: SubscriptionInput): Promise<Subscription> =>
      this.admin.json('PUT', path(id), subscription),
    delete: (id: string): Promise<Subscription> => this.admin.json('DELETE', path(id)),
    pause: (id: string): Promise<Subscription> => this.admin.json('POST', `${path(id)}/pause`),
    resume: (id: string): Promise<Subscription> => this.admin.json('POST', `${path(id)}/resume`),
    seek: (id: string, to: SeekTarget): Promise<Subscription> =>
      this.admin.json('POST', `${path(id)}/seek`, { to }),
  };

  readonly deadLetters = {
    /**
     * The first `limit` dead letters (default 100), in id order. The broker also ends a page at
     * --dead-letter-page-max-bytes, so pages are followed until `limit` are read or none are left.
     */
    list: (subscription: string, options: { limit?: number } = {}): Promise<DeadLetter[]> => {
      const limit = options.limit ?? DEAD_LETTERS_LIST;
      return this.allPages(
        `${path(subscription)}/deadletters?limit=${Math.min(limit, MAX_DEAD_LETTERS_PAGE)}`,
        (body) => (body as { deadLetters: DeadLetter[] }).deadLetters,
        limit,
      );
    },
    /** Every dead letter, in id order, every page. */
    all: (subscription: string): Promise<DeadLetter[]> =>
      this.allPages(
        `${path(subscription)}/deadletters?limit=${DEAD_LETTERS_PAGE}`,
        (body) => (body as { deadLetters: DeadLetter[] }).deadLetters,
      ),
    /** Re-delivers all dead letters, or those with the given ids; resolves with how many were taken. */
    redrive: async (subscription: string, ids?: readonly string[]): Promise<number> =>
      (
        await this.admin.json<{ redriving: number }>(
          'POST',
          `${path(subscription)}/deadletters/redrive`,
          ids === undefined ? undefined : { ids },
        )
      ).redriving,
  };
}

/** Same as `new HeraldClient(options)`. */
export function createClient(options: HeraldClientOptions): HeraldClient {
  return new HeraldClient(options);
}
