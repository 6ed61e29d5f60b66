// `GET /events?from=TIME` and `GET /events/stream?from=TIME` over real HTTP against a real embedded store
// (reopened, so the times come from its index): a time is an RFC 3339 date-time, as a subscription's
// `startAt: {time}` is; a date that does not exist (30 February, 31 April, hour 24) or a time without
// an offset is refused, never read leniently as some other moment (Date.parse rolls 2026-02-30 over to
// 2 March, and reads a time without an offset in the machine's time zone).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonEvent, serveLogApi } from './testing/serve-log-api.js';
import type { ServedLogApi } from './testing/serve-log-api.js';

let served: ServedLogApi;
/** The moment before each event was appended, and one after the last. */
const before: number[] = [];
let afterLast = 0;

/** Waits until the clock moved past `time` (each event gets a stored time of its own). */
async function pastMillisecond(time: number): Promise<void> {
  while (Date.now() <= time) await new Promise((resolve) => setTimeout(resolve, 1));
}

beforeAll(async () => {
  served = await serveLogApi(
    async (store) => {
      for (let i = 0; i < 3; i++) {
        const now = Date.now();
        before.push(now);
        await pastMillisecond(now);
        await store.append([jsonEvent(`e${i}`, '{}')]);
        await pastMillisecond(Date.now());
      }
      afterLast = Date.now();
      await pastMillisecond(afterLast);
    },
    {},
    true,
  );
});

afterAll(() => served.close());

async function page(from: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${served.url}/events?from=${encodeURIComponent(from)}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const iso = (time: number) => new Date(time).toISOString();

describe('GET /events?from=TIME', () => {
  it('starts at the first event stored at or after the time: before the first, between events, after the last', async () => {
    const sequences = async (from: string) => {
      const { status, body } = await page(from);
      expect(status).toBe(200);
      return (body['events'] as { sequence: number }[]).map((e) => e.sequence);
    };
    expect(await sequences(iso(0))).toEqual([1, 2, 3]);
    expect(await sequences(iso(before[0] as number))).toEqual([1, 2, 3]);
    expect(await sequences(iso(before[1] as number))).toEqual([2, 3]);
    expect(await sequences(iso(before[2] as number))).toEqual([3]);
    expect(await sequences(iso(afterLast))).toEqual([]);
    // The same moment with an offset of its own.
    expect(await sequences('1970-01-01T01:00:00+01:00')).toEqual([1, 2, 3]);
  });

  it.each([
    '2026-02-30T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-11-31T00:00:00Z',
    '2026-12-05T24:00:00Z',
    '2026-12-05T00:00:00',
    '2026-12-05T00:00Z',
    '2026-12-05T00:00:00+0100',
    '2026-12-05T00:00:00.Z',
  ])('refuses %s with 400 HERALD_INVALID_QUERY', async (from) => {
    const { status, body } = await page(from);
    expect({ status, code: body['code'], pointer: body['pointer'] }).toEqual({
      status: 400,
      code: 'HERALD_INVALID_QUERY',
      pointer: '?from',
    });
  });

  it('refuses an impossible date on the live tail too', async () => {
    const response = await fetch(`${served.url}/events/stream?from=2026-02-30T00:00:00Z`);
    // A stream that started (the bug) never ends: only its status is read, then it is cancelled.
    if (response.status !== 400) await response.body?.cancel();
    const body = response.status === 400 ? ((await response.json()) as Record<string, unknown>) : undefined;
    expect({ status: response.status, code: body?.['code'] }).toEqual({
      status: 400,
      code: 'HERALD_INVALID_QUERY',
    });
  });
});
