import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudEvent } from '../cloudevents/index.js';
import { traceIdOf } from '../observability/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { DeadLetter, EventStore, StoredEvent } from '../store/index.js';
import type { CompiledSubscription } from '../subscriptions/types.js';
import type { AttemptError } from './attempt-error.js';
import { classifyStatus } from './retry.js';
import type { SinkClient } from './sink-client.js';
import { buildDelivery } from './sink-client.js';

/** What dead-lettering needs from the dispatcher: the store that keeps dead letters and the transport. */
export interface DeadLetterHost {
  readonly store: EventStore;
  readonly client: SinkClient;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
}

const utf8 = new TextEncoder();

/**
 * One subscription's dead letters: stores the events its worker gave up on (and forwards them to the
 * dead-letter sink when one is set), hands them back out for a redrive, and counts those the store holds.
 */
export class DeadLetters {
  /** Dead letters the store holds for this subscription (the status' `deadLettered`). */
  count = 0;

  constructor(
    private readonly compiled: CompiledSubscription,
    private readonly host: DeadLetterHost,
  ) {}

  private get id(): string {
    return this.compiled.definition.id;
  }

  /** Stores `events` as dead letters after `attempts` attempts that ended in `error`. */
  async add(events: readonly StoredEvent[], error: AttemptError, attempts: number): Promise<void> {
    const { store, metrics, logger } = this.host;
    const deadLetterSink = this.compiled.plan.deadLetterSink;
    for (const stored of events) {
      await store.addDeadLetter({
        subscription: this.id,
        sequence: stored.sequence,
        event: stored.event,
        trace: stored.trace,
        error,
        attempts,
        deadLetteredAt: Date.now(),
      });
      this.count++;
      metrics.deliveries.inc({ outcome: 'deadlettered' });
      if (deadLetterSink !== undefined)
        await this.sendToDeadLetterSink(deadLetterSink, stored, error.code, error.message);
    }
    const traceId = traceIdOf(events[0]?.trace);
    logger.warn(
      { subscription: this.id, sequences: events.map((e) => e.sequence), error, trace_id: traceId },
      'dead-lettered',
    );
  }

  /** Best effort: the dead-letter store already holds the event, so a failing dead-letter sink loses nothing. */
  private async sendToDeadLetterSink(
    url: string,
    stored: StoredEvent,
    code: string,
    detail: string,
  ): Promise<void> {
    const event: CloudEvent = {
      ...stored.event,
      attributes: {
        ...stored.event.attributes,
        heralderrorcode: code,
        heralderrordata: Buffer.from(utf8.encode(detail)).toString('base64'),
        heralderrordest: this.compiled.definition.sink,
      },
    };
    const { headers, body } = buildDelivery([{ ...stored, event }], 'binary', {});
    headers['herald-subscription'] = this.id;
    headers['herald-sequence'] = String(stored.sequence);
    for (let attempt = 1; attempt <= 3; attempt++) {
      headers['herald-attempt'] = String(attempt);
      const response = await this.host.client.send({
        url,
        method: 'POST',
        headers,
        body,
        timeoutMs: this.compiled.plan.timeoutMs,
      });
      if (classifyStatus(response.status) === 'delivered') return;
      if (attempt < 3) await sleep(200 * attempt);
    }
    this.host.logger.error(
      { subscription: this.id, sequence: stored.sequence, deadLetterSink: url },
      'dead-letter sink failed',
    );
  }

  /** The event a dead letter holds, to deliver again; the letter stays in the store until `settle`. */
  eventOf(letter: DeadLetter): StoredEvent {
    return {
      sequence: letter.sequence,
      storedAt: letter.deadLetteredAt,
      event: letter.event,
      trace: letter.trace,
    };
  }

  /**
   * Removes a redriven dead letter once its redrive ended: delivered, or dead-lettered again (`add` has
   * then stored the new attempt first, so a crash between the two leaves the event twice, never zero times).
   */
  async settle(letter: DeadLetter): Promise<void> {
    await this.host.store.deleteDeadLetters(this.id, [letter.id]);
    this.count = Math.max(0, this.count - 1);
  }
}
