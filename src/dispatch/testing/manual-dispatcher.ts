// For tests of the dispatcher with real stores: a dispatcher that does nothing on its own timers, a
// subscription definition, and a sink on loopback that takes every event.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BrokerMetrics, createLogger } from '../../observability/index.js';
import type { EventStore } from '../../store/index.js';
import { DEFAULT_DELIVERY, compileSubscription } from '../../subscriptions/index.js';
import type { CompiledSubscription } from '../../subscriptions/index.js';
import { Dispatcher } from '../dispatcher.js';

/** What a test undoes after itself, last first. */
export type Cleanups = Array<() => Promise<unknown>>;

/**
 * A started dispatcher that commits cursors only when told to (`commitCursors`) or stopped, and never
 * retries a claim: the test decides when. Stopping it more than once stops it once.
 */
export async function startManualDispatcher(store: EventStore, cleanups: Cleanups): Promise<Dispatcher> {
  const dispatcher = new Dispatcher({
    store,
    metrics: new BrokerMetrics(false),
    logger: createLogger('silent'),
    commitIntervalMs: 3_600_000,
    claimRetryMs: 3_600_000,
  });
  await dispatcher.start();
  const stop = dispatcher.stop.bind(dispatcher);
  let stopped: Promise<void> | undefined;
  dispatcher.stop = (timeoutMs) => (stopped ??= stop(timeoutMs));
  cleanups.push(() => dispatcher.stop(1_000));
  return dispatcher;
}

/** A subscription to every event from `latest`, delivered in strict order to `sink`. */
export function testSubscription(id: string, sink: string, incarnation?: string): CompiledSubscription {
  return compileSubscription(
    {
      id,
      sink,
      protocol: 'HTTP',
      delivery: { ...DEFAULT_DELIVERY, ordering: 'strict' },
      startAt: 'latest',
      paused: false,
      origin: 'api',
      createdAt: new Date(0).toISOString(),
      ...(incarnation === undefined ? {} : { incarnation }),
    },
    undefined,
  );
}

/** A sink on loopback that answers every event 204 once its body is read; its URL and the ids it was sent. */
export async function startRecordingSink(cleanups: Cleanups): Promise<{ url: string; received: string[] }> {
  const received: string[] = [];
  const sink = createServer((req, res) => {
    received.push(req.headers['ce-id'] as string);
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
  return { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, received };
}

/** A sink on loopback that answers every event 204; its URL. */
export async function startAcceptingSink(cleanups: Cleanups): Promise<string> {
  return (await startRecordingSink(cleanups)).url;
}
