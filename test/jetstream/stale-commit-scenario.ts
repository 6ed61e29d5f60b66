// The scenario of a stale replica's cursor commit, for test/jetstream/stale-cursor-commit.test.ts and
// test/kafka/stale-cursor-commit.test.ts. Two broker replicas share a store. The replica delivering a
// subscription stalls (SIGSTOP) with its position ahead of its committed cursor; its claim runs out and
// the other replica takes the subscription over, delivers further and commits. When the stalled replica
// wakes, its commit round runs before it learns the claim is gone: that commit must not land over the
// new holder's, or the shared cursor moves backwards, and once the new holder dies (SIGKILL) the replica
// that takes over delivers again what the new holder had delivered and committed — the duplicate
// deliveries the seed project was known for.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { publish, requestJson, subscribe } from '../harness/client.js';
import { waitFor } from '../infra/process.js';
import { loggedReplicas } from '../support/logged-replicas.js';
import { holderOf } from './holding-sink.js';
import { wakeAfterLostClaim } from './brokers.js';

const WANTED = 'com.example.wanted';

export interface RecordingSink {
  readonly url: string;
  /** The `ce-id` of every request, in arrival order. */
  readonly ids: string[];
  close(): Promise<void>;
}

/** A loopback sink that answers 200 at once. */
export async function startRecordingSink(): Promise<RecordingSink> {
  const ids: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      ids.push(String(req.headers['ce-id']));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    ids,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface StaleCommitSetup {
  readonly sink: RecordingSink;
  /** Starts one more replica of the broker; `onOutput` gets its log. */
  start(onOutput: (text: string) => void): Promise<BrokerProcess>;
  /** The committed cursor of subscription `id`, read from the store itself; undefined when none is. */
  committed(id: string): Promise<number | undefined>;
}

export async function staleCommitScenario({ sink, start, committed }: StaleCommitSetup): Promise<void> {
  const group = loggedReplicas(start);
  const [a, b] = [await group.start(), await group.start()];
  const { id } = await subscribe(a.adminUrl, {
    sink: sink.url,
    filters: [{ exact: { type: WANTED } }],
    // One attempt at a time: events arrive in log order, so an arrival is a barrier for those before it.
    delivery: { maxInFlight: 1 },
  });
  const holder = await holderOf([a, b], id);
  const other = holder === a ? b : a;
  const position = async (replica: BrokerProcess): Promise<number> =>
    (await requestJson<{ status: { cursor: number } }>('GET', `${replica.adminUrl}/subscriptions/${id}`)).body
      .status.cursor;

  await publish(holder.url, { id: 'w-1', type: WANTED });
  // Delivered and committed: the takeovers below start after it.
  await waitFor(
    'w-1 to be delivered and committed',
    async () => ((await committed(id)) === 2 ? true : undefined),
    {
      timeoutMs: 30_000,
    },
  );

  // A delivered event moves the holder's position, committed in the next commit round (200 ms). The
  // holder is stopped inside that window, its position ahead of the committed cursor (tried again if
  // the commit got in first).
  let stale = 0;
  let staleEvent = '';
  for (let round = 0; stale === 0; round++) {
    if (round === 10) throw new Error('never caught the holder with an uncommitted position');
    await publish(holder.url, { id: `s-${round}`, type: WANTED });
    const moved = await waitFor(
      'the holder to deliver the event',
      async () => {
        const at = await position(holder);
        return at === 3 + round ? at : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    process.kill(holder.child.pid as number, 'SIGSTOP');
    if (((await committed(id)) ?? moved) < moved) [stale, staleEvent] = [moved, `s-${round}`];
    else process.kill(holder.child.pid as number, 'SIGCONT');
  }
  const delivered = [...sink.ids];

  // Its claim runs out (6 s); the other replica takes over, delivers more and commits past `stale`.
  await waitFor(
    'the other replica to take over',
    async () => ((await position(other)) > 0 ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );
  for (const event of ['w-2', 'w-3', 'w-4']) await publish(other.url, { id: event, type: WANTED });
  await waitFor('w-2..w-4 to arrive', async () => (sink.ids.includes('w-4') ? true : undefined), {
    timeoutMs: 30_000,
  });
  const takenOver = await waitFor(
    'the new holder to commit its position',
    async () => {
      const [at, stored] = [await position(other), await committed(id)];
      return stored === at && at > stale ? at : undefined;
    },
    { timeoutMs: 30_000 },
  );

  // The stalled replica wakes, and finds its claim gone.
  await wakeAfterLostClaim(holder, () => group.log(holder));
  // The new holder dies before it commits again; the woken replica takes over from what is committed.
  await other.stop('SIGKILL');
  // A store without compare-and-set (Kafka) writes the stale commit and takes it back: read once settled.
  // (Bounded by a timeout only, short of the new holder's claim running out.)
  const afterWake = await waitFor(
    'the committed cursor to be the new holder’s',
    async () => ((await committed(id)) === takenOver ? takenOver : undefined),
    { timeoutMs: 2_500 },
  ).catch(() => committed(id));
  await publish(holder.url, { id: 'w-5', type: WANTED });
  // w-5 follows w-2..w-4 in the log: once it arrived, any second delivery of them arrived before it.
  await waitFor(
    'the woken replica to take over and deliver w-5',
    async () => (sink.ids.includes('w-5') ? true : undefined),
    { timeoutMs: 60_000 },
  );

  // The stalled replica's last event was never committed: the new holder delivered it again (at least
  // once). Nothing the new holder committed is delivered twice.
  expect({ afterWake, ids: sink.ids.slice(delivered.length) }).toEqual({
    afterWake: takenOver,
    ids: [staleEvent, 'w-2', 'w-3', 'w-4', 'w-5'],
  });
}
