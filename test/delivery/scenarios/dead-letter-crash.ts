// A refused event is one dead letter, however often the broker dies before its cursor passes the event.
// The letter is stored when the refusal comes, the cursor commits later (every ~200 ms, and only past
// events whose attempt ended): a SIGKILL in between makes the next broker deliver the event again, the
// sink refuses it again, and the refusal must find the letter already stored instead of storing a second.
// Two ways the cursor stays before a stored letter, each held open by a sink that answers only when told
// (so nothing here depends on timing): the dead-letter sink holding the letter's forward (the attempt
// ends after it), and an earlier event still unanswered at the sink (the cursor passes no gap).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../../harness/processes.js';
import { startSink } from '../../harness/processes.js';
import { publish, requestJson, subscribe, waitForStatus } from '../../harness/client.js';
import { waitFor } from '../../infra/process.js';
import { startHoldingSink } from '../../jetstream/holding-sink.js';
import type { HeldRequest, HoldingSink } from '../../jetstream/holding-sink.js';

/** Starts the broker again on the same store each call (`previous`: the one killed before it). */
export type RestartingBroker = (previous?: BrokerProcess) => Promise<BrokerProcess>;

interface Letters {
  deadLetters: Array<{ id: string; sequence: number }>;
}

async function lettersOf(broker: BrokerProcess, id: string): Promise<Letters['deadLetters']> {
  const { status, body } = await requestJson<Letters>(
    'GET',
    `${broker.adminUrl}/subscriptions/${id}/deadletters`,
  );
  expect(status).toBe(200);
  return body.deadLetters;
}

/** The first request for `eventId` that arrived at or after index `from`. */
function arrival(sink: HoldingSink, eventId: string, from = 0): Promise<HeldRequest> {
  return waitFor(
    `${eventId} at the holding sink`,
    async () => sink.arrivals.slice(from).find((held) => held.eventId === eventId),
    { timeoutMs: 30_000 },
  );
}

export function describeDeadLetterCrashScenarios(store: string, start: RestartingBroker): void {
  describe(`${store}: a refused event stored as a dead letter once across a SIGKILL`, () => {
    let refusing: SinkProcess;
    let holding: HoldingSink;
    let deadLetterSink: HoldingSink;
    beforeAll(async () => {
      [refusing, holding, deadLetterSink] = await Promise.all([
        startSink(),
        startHoldingSink(),
        startHoldingSink(),
      ]);
      await refusing.configure({ status: 400 });
    });
    afterAll(async () => {
      await Promise.all([refusing?.stop(), holding?.close(), deadLetterSink?.close()]);
    });

    it('keeps one letter when the broker dies while the dead-letter sink holds the letter', async () => {
      const first = await start();
      const { id } = await subscribe(first.adminUrl, {
        sink: refusing.url,
        delivery: { retry: 0, deadLetterSink: deadLetterSink.url },
      });
      await publish(first.url, { id: 'held-1' });
      // Stored before it is forwarded: the forward's arrival means the letter is in the store.
      await arrival(deadLetterSink, 'held-1');
      expect((await lettersOf(first, id)).map((l) => l.sequence)).toEqual([1]);
      await first.stop('SIGKILL');

      const second = await start(first);
      // Refused again and forwarded again (the forward is at least once); stored again it must not be.
      await arrival(deadLetterSink, 'held-1', 1);
      const letters = await lettersOf(second, id);
      expect(letters.map((l) => l.sequence)).toEqual([1]);
      await second.stop('SIGKILL');
    }, 120_000);

    it('keeps one letter when the broker dies while an earlier event holds the cursor back', async () => {
      const first = await start();
      const { id } = await subscribe(first.adminUrl, {
        sink: holding.url,
        delivery: { retry: 0, maxInFlight: 2, ordering: 'none' },
      });
      await publish(first.url, { id: 'gap-0' });
      await publish(first.url, { id: 'gap-1' });
      // gap-0 is left unanswered: the cursor cannot pass it (nor gap-1 after it) before the kill.
      await arrival(holding, 'gap-0');
      holding.answer(await arrival(holding, 'gap-1'), 400);
      const before = await waitFor(
        'the letter of gap-1',
        async () => {
          const letters = await lettersOf(first, id);
          return letters.length === 1 ? letters : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const from = holding.arrivals.length;
      await first.stop('SIGKILL');

      const second = await start(first);
      holding.answer(await arrival(holding, 'gap-0', from), 200);
      holding.answer(await arrival(holding, 'gap-1', from), 400);
      // Both attempts ended (delivered; refused and dead-lettered): the cursor passes both.
      await waitForStatus(second.adminUrl, id, (status) => status.lag === 0, 30_000);
      const letters = await lettersOf(second, id);
      expect(letters.map((l) => l.sequence)).toEqual(before.map((l) => l.sequence));
      await second.stop('SIGKILL');
    }, 120_000);
  });
}
