import { setTimeout as sleep } from 'node:timers/promises';
import { TokenBucket } from '../limits/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import { authorizationFor, credentialFromSecret } from '../sink-credentials/index.js';
import type { CompiledSubscription, SubscriptionStatus } from '../subscriptions/types.js';
import { validateSink } from './handshake.js';
import { backoffDelay } from './retry.js';
import type { SinkClient } from './sink-client.js';
import { timerDelay } from './timers.js';

/** What a subscription's access to its sink needs from the dispatcher. */
export interface SinkAccessHost {
  readonly client: SinkClient;
  readonly metrics: BrokerMetrics;
  /** With `--sink-handshake required`: the origin named in the Web Hook validation handshake. */
  readonly handshakeOrigin: string | undefined;
  /** Kubernetes mode: reads a Secret named by `sinkcredential.secretRef` (decoded data). */
  readonly readSecret: ((name: string) => Promise<Record<string, string>>) | undefined;
}

type LastError = NonNullable<SubscriptionStatus['lastError']>;

/**
 * What a subscription may send its sink, apart from the events: the headers every attempt carries (the
 * credential, the handshake origin), the sink's consent in the Web Hook handshake, and the rate that
 * caps delivery (the subscription's, lowered to what the sink granted).
 */
export class SinkAccess {
  /** Caps delivery; undefined without a rate limit. */
  bucket: TokenBucket | undefined;
  /**
   * Headers every attempt carries besides the event's (absent when there are none, as for most
   * subscriptions).
   */
  headers: Record<string, string> | undefined;
  /** `validating` until the sink consented in the Web Hook handshake (only with --sink-handshake required). */
  state: 'validating' | 'valid';
  /** Aborted by `stop`: ends a handshake in progress (made by the first handshake). */
  private stopController: AbortController | undefined;
  private stopped = false;

  constructor(
    private readonly compiled: CompiledSubscription,
    private readonly host: SinkAccessHost,
  ) {
    this.setRate(compiled.plan.rateLimit);
    this.state = host.handshakeOrigin === undefined ? 'valid' : 'validating';
    if (host.handshakeOrigin !== undefined) this.header('webhook-request-origin', host.handshakeOrigin);
    const authorization = authorizationFor(compiled.definition.sinkcredential);
    if (authorization !== undefined) this.header('authorization', authorization);
  }

  private header(name: string, value: string): void {
    (this.headers ??= {})[name] = value;
  }

  private setRate(rate: number | undefined): void {
    this.bucket = rate === undefined ? undefined : new TokenBucket(rate, Math.max(1, Math.ceil(rate / 10)));
  }

  /** Resolves `sinkcredential.secretRef` into the Authorization header (throws while it cannot). */
  async resolveSecretRef(): Promise<void> {
    const credential = this.compiled.definition.sinkcredential;
    const ref = credential?.['secretRef'] as { name?: string } | undefined;
    if (ref?.name === undefined) return;
    if (this.host.readSecret === undefined) throw new Error('sinkcredential.secretRef needs --kubernetes');
    const resolved = credentialFromSecret(await this.host.readSecret(ref.name));
    const authorization = authorizationFor(resolved);
    if (authorization === undefined) {
      throw new Error(`Secret '${ref.name}' holds neither 'accesstoken' nor 'identity' and 'secret'`);
    }
    this.header('authorization', authorization);
  }

  /**
   * Runs the Web Hook validation handshake until the sink consents (retried with the subscription's
   * backoff, each failure passed to `failed`), at most `maxAttempts` times; the granted rate then caps
   * delivery. True once the sink consented.
   */
  async validate(maxAttempts: number, failed: (error: LastError | undefined) => void): Promise<boolean> {
    const origin = this.host.handshakeOrigin as string;
    const { plan, definition } = this.compiled;
    const signal = (this.stopController ??= new AbortController()).signal;
    for (let attempt = 1; !this.stopped && this.state !== 'valid'; attempt++) {
      const result = await validateSink(
        this.host.client,
        definition.sink,
        origin,
        plan.timeoutMs,
        plan.rateLimit,
      );
      if (this.stopped) return false;
      if (result.ok) {
        const rates = [plan.rateLimit, result.rate].filter((r): r is number => r !== undefined);
        this.setRate(rates.length === 0 ? undefined : Math.min(...rates));
        this.state = 'valid';
        failed(undefined);
        return true;
      }
      this.host.metrics.sinkHandshakeFailures.inc();
      failed({ ...result.error, at: new Date().toISOString() });
      if (attempt >= maxAttempts) return false;
      try {
        await sleep(timerDelay(backoffDelay(plan, Math.min(attempt, 30))), undefined, { signal });
      } catch {
        return false;
      }
    }
    return this.state === 'valid';
  }

  /**
   * Waits for `count` tokens of the rate limit (at once without one): a retry or a redriven letter is a
   * request to the sink like a first attempt. False when `signal` aborts first.
   */
  async take(count: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      // Read each time: a handshake may lower the rate meanwhile.
      const bucket = this.bucket;
      if (bucket === undefined || bucket.tryTake(count)) return true;
      try {
        await sleep(Math.max(1, timerDelay(bucket.waitTime(count))), undefined, { signal });
      } catch {
        return false;
      }
    }
  }

  /** Ends a handshake in progress; none starts after. */
  stop(): void {
    this.stopped = true;
    this.stopController?.abort();
  }
}
