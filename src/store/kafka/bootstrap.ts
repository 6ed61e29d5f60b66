import { TimeoutError, kOptions, parseBroker } from '@platformatic/kafka';
import type { Base, Broker } from '@platformatic/kafka';
import { Unanswered } from './client.js';

/**
 * The bootstrap brokers in the order the next client gets them. The client library sends the requests
 * that name no node (Metadata, ApiVersions, InitProducerId) to the first bootstrap broker that accepts a
 * connection, and tries the next one only when connecting fails. A node that accepts connections but
 * never answers (a stopped process, a stalled JVM) therefore holds up every client that starts with it,
 * even when it leads nothing; and the store replaces a client that timed out with a new one, which would
 * start with it again. So after a timeout the broker that client's requests went to goes last, for every
 * client created after. A node moved last by mistake (the request that timed out waited on a partition
 * leader, not on it) costs nothing but order: it is still tried, after the others.
 */
export class BootstrapBrokers {
  private readonly order: string[];

  constructor(readonly configured: readonly string[]) {
    this.order = [...configured];
  }

  /** The brokers for a new client, in the order it should try them. */
  list(): string[] {
    return [...this.order];
  }

  /**
   * Called before a client that failed with `error` is replaced: when a request timed out, the broker
   * that client sent its requests without a node to (the first of its bootstrap brokers it holds a
   * connection to, as the library picks it) goes to the end of the list.
   */
  demoteAfter(client: Base, error: unknown): void {
    if (!timedOut(error)) return;
    const own = client[kOptions].bootstrapBrokers as ReadonlyArray<Broker | string>;
    const asked = own.map((b) => parseBroker(b)).find((b) => client.connections.has(b));
    if (asked === undefined) return;
    const at = this.order.findIndex((b) => sameBroker(parseBroker(b), asked));
    if (at < 0 || at === this.order.length - 1) return;
    this.order.push(...this.order.splice(at, 1));
  }
}

function sameBroker(a: Broker, b: Broker): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Whether a request inside `error` got no answer in time: the store's bound or the library's own. */
export function timedOut(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 6) return false;
  if (error instanceof Unanswered || error instanceof TimeoutError) return true;
  const e = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(e.errors) && e.errors.some((inner) => timedOut(inner, depth + 1))) return true;
  return e.cause !== undefined && timedOut(e.cause, depth + 1);
}
