// A subscription with one letter more than a page of the dead-letter API holds, for the tests of what reads
// every page (`herald deadletters redrive --wait`, the dashboard's "Redrive all").
import type { BrokerProcess, SinkProcess } from './processes.js';
import { publishBatch, subscribe, waitForStatus } from './client.js';

/** The most the dead-letter API answers in one page (`?limit=` at most this). */
export const DEAD_LETTER_PAGE = 10_000;

/**
 * Subscribes `sink` (set to refuse, no retries) to `type` on `broker`, and dead-letters a full page of events,
 * then one more, `late`: dead-lettered after the page's, it has a later id, the first of the second page.
 * The broker must keep letters without bound (`--dead-letter-max-letters 0`: the default is one page).
 */
export async function deadLettersPastOnePage(
  broker: BrokerProcess,
  sink: SinkProcess,
  type: string,
): Promise<{ id: string }> {
  await sink.configure({ status: 400, delayMs: 0 });
  const subscription = await subscribe(broker.url, {
    sink: `${sink.url}/pages`,
    types: [type],
    delivery: { retry: 0 },
  });
  for (let from = 0; from < DEAD_LETTER_PAGE; from += 2500) {
    await publishBatch(
      broker.url,
      Array.from({ length: 2500 }, (_, i) => ({ id: `p${from + i}`, type })),
    );
  }
  await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === DEAD_LETTER_PAGE, 300_000);
  await publishBatch(broker.url, [{ id: 'late', type }]);
  await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === DEAD_LETTER_PAGE + 1, 60_000);
  return subscription;
}
