// A live event stream (GET /events/stream) outlives the request that opened it: it must end when its
// credential expires (a JWT's exp) and when a periodic re-check refuses it (a token removed from the
// reloaded tokens file), and no event stored after the expiry may reach it.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { binaryHeaders, metricValue, send, sleep } from '../support/http.js';
import { jwt, publishWithToken, TOKENS, tokensFile, useSecureBroker } from './fixtures.js';
import type { SecureBroker } from './fixtures.js';

const started = useSecureBroker(['--stream-auth-recheck', '1s']);
let secure: SecureBroker;
const BLUE = 'team-blue-0123456789abcdef0123';
beforeAll(async () => {
  secure = started();
  writeFileSync(secure.files.tokens, tokensFile({ ...TOKENS, 'team-blue': BLUE }, ['bob']));
  // Wait until the reloaded file (with team-blue) is in force.
  for (let i = 0; i < 100 && (await publish(BLUE, 'blue-probe')).status !== 202; i++) await sleep(200);
});

const publish = (token: string, id: string) => publishWithToken(secure, token, id);

/** An open stream: the ids of the events it received, and a promise that settles when it ends. */
async function openStream(token: string) {
  const req = http.get(new URL('/events/stream', secure.broker.adminUrl), {
    headers: { authorization: `Bearer ${token}` },
    agent: false,
  });
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  expect(response.statusCode).toBe(200);
  response.setEncoding('utf8');
  const received: string[] = [];
  let text = '';
  let opened!: () => void;
  const ready = new Promise<void>((resolve) => (opened = resolve));
  const ended = new Promise<string>((resolve) => {
    response.on('data', (chunk: string) => {
      text += chunk;
      opened();
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const data = text
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        if (data !== undefined) received.push((JSON.parse(data.slice(6)) as { id: string }).id);
        text = text.slice(end + 2);
      }
    });
    response.on('end', () => resolve('ended'));
    response.on('error', () => resolve('ended'));
  });
  await ready;
  return { received, ended, close: () => req.destroy() };
}

/** Publishes an event every 100 ms until `ended` settles (at most `capMs`); returns what it published. */
async function publishUntil(ended: Promise<string>, prefix: string, capMs = 30_000) {
  let done = false;
  void ended.then(() => (done = true));
  const published: { id: string; at: number }[] = [];
  const cap = Date.now() + capMs;
  for (let n = 0; !done && Date.now() < cap; n++) {
    const id = `${prefix}-${n}`;
    // Taken before the request is sent: the event is stored after this moment.
    published.push({ id, at: Date.now() });
    expect((await publish(TOKENS.alice, id)).status).toBe(202);
    await sleep(100);
  }
  return { published, ended: done };
}

async function metrics(): Promise<string> {
  return (
    await send(secure.broker.adminUrl, {
      method: 'GET',
      path: '/metrics',
      headers: secure.bearer('ops'),
    })
  ).text();
}

describe('a live stream and its credential', () => {
  it('is refused (401) when its JWT has expired already, though a request would still be accepted', async () => {
    // Two seconds past exp: within the clock tolerance other requests get, past what a stream may live.
    const token = await jwt(secure.key, 'alice', { exp: Math.floor(Date.now() / 1000) - 2 });
    expect(
      (
        await send(secure.broker.url, {
          path: '/events',
          headers: { ...binaryHeaders('late-ok'), authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(202);
    const stream = await send(secure.broker.adminUrl, {
      method: 'GET',
      path: '/events/stream',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(stream.status).toBe(401);
    expect(stream.json()).toMatchObject({ code: 'HERALD_UNAUTHENTICATED' });
  });

  it('ends when its JWT expires, and receives no event stored after the expiry', async () => {
    const expSeconds = Math.floor(Date.now() / 1000) + 3;
    const stream = await openStream(await jwt(secure.key, 'alice', { exp: expSeconds }));
    const { published, ended } = await publishUntil(stream.ended, 'jwt');
    stream.close();
    expect(ended).toBe(true);
    const afterExpiry = new Set(published.filter((p) => p.at >= expSeconds * 1000).map((p) => p.id));
    expect(stream.received.filter((id) => afterExpiry.has(id))).toEqual([]);
    // It was a working stream until then.
    expect(stream.received.length).toBeGreaterThan(0);
    expect(metricValue(await metrics(), 'herald_stream_auth_ends_total{reason="expired"}')).toBeGreaterThan(
      0,
    );
  });

  it('ends when a re-check refuses its static token (removed from the reloaded file); others stay open', async () => {
    const blue = await openStream(BLUE);
    const alice = await openStream(TOKENS.alice);
    writeFileSync(secure.files.tokens, tokensFile({ ...TOKENS }, ['bob']));
    const { ended } = await publishUntil(blue.ended, 'revoked');
    blue.close();
    expect(ended).toBe(true);
    expect((await publish(BLUE, 'blue-after')).status).toBe(401);
    // A stream whose credential is still good keeps receiving.
    expect((await publish(TOKENS.alice, 'alice-after')).status).toBe(202);
    for (let i = 0; i < 100 && !alice.received.includes('alice-after'); i++) await sleep(100);
    expect(alice.received).toContain('alice-after');
    alice.close();
    expect(metricValue(await metrics(), 'herald_stream_auth_ends_total{reason="revoked"}')).toBeGreaterThan(
      0,
    );
  });
});
