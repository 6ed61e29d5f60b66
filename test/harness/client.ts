/** Small HTTP helpers for tests that talk to a broker process. */
import { sleep } from '../infra/process.js';

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export async function requestJson<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
  };
}

export interface TestEvent {
  readonly id: string;
  readonly type?: string;
  readonly source?: string;
  readonly subject?: string;
  readonly partitionkey?: string;
  readonly data?: unknown;
}

export function structured(event: TestEvent): Record<string, unknown> {
  return {
    specversion: '1.0',
    source: '/tests',
    type: 'com.example.test',
    ...event,
    data: event.data ?? { id: event.id },
  };
}

/** Publishes events as one batch; throws unless the broker answers 202. */
export async function publishBatch(
  brokerUrl: string,
  events: readonly TestEvent[],
  headers: Record<string, string> = {},
): Promise<void> {
  const response = await fetch(`${brokerUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json', ...headers },
    body: JSON.stringify(events.map(structured)),
  });
  if (response.status !== 202)
    throw new Error(`publish answered ${response.status}: ${await response.text()}`);
}

export async function publish(
  brokerUrl: string,
  event: TestEvent,
  headers: Record<string, string> = {},
): Promise<void> {
  const response = await fetch(`${brokerUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json', ...headers },
    body: JSON.stringify(structured(event)),
  });
  if (response.status !== 202)
    throw new Error(`publish answered ${response.status}: ${await response.text()}`);
}

export interface SubscriptionBody {
  readonly id: string;
  readonly status: { state: string; cursor: number; lag: number; deadLettered: number; lastError: unknown };
  readonly [key: string]: unknown;
}

export async function subscribe(adminUrl: string, body: Record<string, unknown>): Promise<SubscriptionBody> {
  const response = await requestJson<SubscriptionBody>('POST', `${adminUrl}/subscriptions`, {
    protocol: 'HTTP',
    ...body,
  });
  if (response.status !== 201)
    throw new Error(`subscribe answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function metricValue(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** One `sleep` for every test helper (test/infra/process.ts). */
export { sleep };

/** Polls a subscription's status until `predicate` holds; throws with the last status when it never does. */
export async function waitForStatus(
  adminUrl: string,
  id: string,
  predicate: (status: SubscriptionBody['status']) => boolean,
  timeoutMs = 30_000,
): Promise<SubscriptionBody['status']> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await requestJson<SubscriptionBody>('GET', `${adminUrl}/subscriptions/${id}`);
    if (predicate(body.status)) return body.status;
    if (Date.now() > deadline) throw new Error(`status never matched: ${JSON.stringify(body.status)}`);
    await sleep(100);
  }
}

/** An open `GET /events/stream` read as text, for tests that wait for what it writes. */
export interface EventStreamText {
  /** Resolves once the stream has written `fragment` (e.g. an event's quoted id); throws after `timeoutMs`. */
  waitFor(fragment: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens the broker's event stream at `path` (e.g. `/events/stream?from=1`) and reads it as it comes. */
export async function openEventStream(adminUrl: string, path: string): Promise<EventStreamText> {
  const controller = new AbortController();
  const response = await fetch(`${adminUrl}${path}`, { signal: controller.signal });
  if (response.status !== 200 || response.body === null)
    throw new Error(`${path} answered ${response.status}`);
  const body = response.body;
  let text = '';
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of body) text += decoder.decode(chunk as Uint8Array, { stream: true });
  })().catch(() => undefined);
  return {
    async waitFor(fragment, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!text.includes(fragment)) {
        if (Date.now() > deadline) throw new Error(`the stream never wrote ${fragment}`);
        await sleep(50);
      }
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}
