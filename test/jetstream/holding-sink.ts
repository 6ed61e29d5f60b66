// A sink on loopback that holds every request until the test answers it, and the replica test helpers
// that go with it (which replica delivers a subscription).
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrokerProcess } from '../harness/processes.js';
import { requestJson, subscribe } from '../harness/client.js';
import { waitFor } from '../infra/process.js';

export interface HeldRequest {
  /** The delivered event's `ce-id` (binary content mode). */
  readonly eventId: string;
  readonly res: ServerResponse;
  /** The broker closed the request before the test answered it (an aborted attempt). */
  closedUnanswered: boolean;
}

export interface HoldingSink {
  readonly url: string;
  /** Every request, in arrival order, once its body was read. */
  readonly arrivals: HeldRequest[];
  /** Answers `held` unless the broker closed it already. */
  answer(held: HeldRequest, status: number): void;
  close(): Promise<void>;
}

export async function startHoldingSink(): Promise<HoldingSink> {
  const arrivals: HeldRequest[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const held: HeldRequest = { eventId: String(req.headers['ce-id']), res, closedUnanswered: false };
      res.on('close', () => {
        if (!res.writableFinished) held.closedUnanswered = true;
      });
      arrivals.push(held);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    arrivals,
    answer: (held, status) => {
      if (!held.closedUnanswered) held.res.writeHead(status, { 'content-type': 'text/plain' }).end();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The replica delivering subscription `id`: the one whose status shows its worker's cursor. */
export async function holderOf(replicas: readonly BrokerProcess[], id: string): Promise<BrokerProcess> {
  return waitFor(
    `a replica to hold the claim on ${id}`,
    async () => {
      for (const replica of replicas) {
        const { body } = await requestJson<{ status: { cursor: number } }>(
          'GET',
          `${replica.adminUrl}/subscriptions/${id}`,
        );
        if (body.status.cursor > 0) return replica;
      }
      return undefined;
    },
    { timeoutMs: 30_000 },
  );
}

/**
 * Subscribes `sink` through the first of two replicas with no retries (each refusal a dead letter at once)
 * and finds which replica delivers it: `holder`, and the `other`.
 */
export async function subscribeUnretried(
  [a, b]: readonly [BrokerProcess, BrokerProcess],
  sink: string,
): Promise<{ id: string; holder: BrokerProcess; other: BrokerProcess }> {
  const { id } = await subscribe(a.adminUrl, { sink, delivery: { retry: 0, timeout: 'PT2M' } });
  const holder = await holderOf([a, b], id);
  return { id, holder, other: holder === a ? b : a };
}
