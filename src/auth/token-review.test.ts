// The TokenReview cache in isolation; the reviews themselves run against a real API server in
// test/k8s/auth.test.ts. Here a reviewer that counts calls stands in for it.
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrokerMetrics, createLogger } from '../observability/index.js';
import { AccessControl } from './access.js';
import { AuthenticationError, Authenticator } from './authenticator.js';
import { PolicySet } from './policy.js';
import { ServiceAccountTokens } from './token-review.js';
import type { TokenReviewResult } from './token-review.js';

const logger = createLogger('silent');

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A compact JWS with these claims; the signature is never checked here (the TokenReview checks it). */
const jws = (claims: unknown) => `${base64url({ alg: 'RS256', kid: 'k' })}.${base64url(claims)}.c2ln`;
const nowS = () => Math.floor(Date.now() / 1000);
/** What a ServiceAccount token projected for the `herald` audience looks like: `aud` and `exp` in an hour. */
const saToken = (name: string) => jws({ aud: ['herald'], exp: nowS() + 3600, sub: name });
/** The `sub` a test token was minted with, so a reviewer can tell them apart. */
const nameOf = (token: string): unknown =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown }).sub;
const request = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as IncomingMessage;
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );

describe('ServiceAccount token cache', () => {
  it('asks once for concurrent and repeated requests with one token, and checks the audience', async () => {
    let calls = 0;
    const tokens = new ServiceAccountTokens(
      async (token, audience): Promise<TokenReviewResult> => {
        calls++;
        expect(audience).toBe('herald');
        const name = nameOf(token);
        if (name === 'other-audience') {
          return { authenticated: true, username: 'system:serviceaccount:a:b', audiences: ['api'] };
        }
        if (name === 'user') return { authenticated: true, username: 'alice', audiences: ['herald'] };
        return name === 'good'
          ? { authenticated: true, username: 'system:serviceaccount:shop:checkout', audiences: ['herald'] }
          : { authenticated: false };
      },
      'herald',
      logger,
      16,
    );
    const good = saToken('good');
    const answers = await Promise.all([tokens.verify(good), tokens.verify(good), tokens.verify(good)]);
    expect(answers).toEqual(Array(3).fill('system:serviceaccount:shop:checkout'));
    await tokens.verify(good);
    expect(calls).toBe(1);
    expect(await tokens.verify(saToken('bad'))).toBeUndefined();
    expect(await tokens.verify(saToken('other-audience'))).toBeUndefined();
    expect(await tokens.verify(saToken('user'))).toBeUndefined();
  });

  // The TokenReview API: a client that sets spec.audiences must find one of them in status.audiences;
  // an authenticated review without any says the token is valid for the API server's own audience
  // (an audience-unaware reviewer), which is exactly the token --kubernetes-audience must refuse.
  it('refuses an authenticated review that names no audience', async () => {
    const tokens = new ServiceAccountTokens(
      async (token): Promise<TokenReviewResult> =>
        nameOf(token) === 'no-audiences'
          ? { authenticated: true, username: 'system:serviceaccount:shop:checkout' }
          : { authenticated: true, username: 'system:serviceaccount:shop:checkout', audiences: [] },
      'herald',
      logger,
      16,
    );
    expect(await tokens.verify(saToken('no-audiences'))).toBeUndefined();
    expect(await tokens.verify(saToken('empty-audiences'))).toBeUndefined();
  });

  it('does not cache a failed review', async () => {
    let calls = 0;
    const tokens = new ServiceAccountTokens(
      async () => {
        calls++;
        throw new Error('connection refused');
      },
      'herald',
      logger,
      16,
    );
    const token = saToken('t');
    await expect(tokens.verify(token)).rejects.toThrow();
    await expect(tokens.verify(token)).rejects.toThrow();
    expect(calls).toBe(2);
  });

  it('stays bounded', async () => {
    const tokens = new ServiceAccountTokens(async () => ({ authenticated: false }), 'herald', logger, 16);
    for (let i = 0; i < 10_050; i++) await tokens.verify(saToken(`t-${i}`));
    expect(tokens.size).toBeLessThanOrEqual(10_000);
  });
});

// Every distinct JWT-shaped token costs a TokenReview: garbage sent fast must not become a flood of
// reviews against the API server (which then throttles the cluster's real users, and the broker's own calls).
describe('TokenReviews an unauthenticated client can cause', () => {
  it('asks for no review of a token that cannot pass one: another audience, no exp, an exp long past', async () => {
    let calls = 0;
    const tokens = new ServiceAccountTokens(
      async (): Promise<TokenReviewResult> => {
        calls++;
        return { authenticated: false };
      },
      'herald',
      logger,
      16,
    );
    const authenticator = new Authenticator({ kubernetes: tokens, maxAuthorizationSize: 8192 });
    const hopeless = (i: number): string => {
      const exp = nowS() + 3600;
      switch (i % 8) {
        case 0:
          return jws({ aud: 'api', exp, sub: `s-${i}` });
        case 1:
          return jws({ aud: ['api', 'vault'], exp, sub: `s-${i}` });
        case 2:
          return jws({ exp, sub: `s-${i}` });
        case 3:
          return jws({ aud: ['herald'], sub: `s-${i}` });
        case 4:
          return jws({ aud: ['herald'], exp: String(exp), sub: `s-${i}` });
        case 5:
          // Beyond the 60 s of clock skew allowed.
          return jws({ aud: 'herald', exp: nowS() - 120, sub: `s-${i}` });
        case 6:
          return `${base64url({ alg: 'RS256' })}.bm90LWpzb24-${i}.c2ln`;
        default:
          return `aaa.${base64url([`herald-${i}`])}.ccc`;
      }
    };
    for (let i = 0; i < 1000; i++) {
      const error = await refusal(authenticator.authenticate(request(hopeless(i))));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationError).reason).toBe('invalid');
    }
    expect(calls).toBe(0);
    // The pre-check is no stricter than a review: `aud` as a string, an `exp` within the skew, both pass.
    await refusal(authenticator.authenticate(request(jws({ aud: 'herald', exp: nowS() - 30, sub: 'late' }))));
    expect(calls).toBe(1);
  });

  it('holds at most --token-review-concurrency reviews in flight; more answer 503 at once, not queued', async () => {
    const pending: { token: string; answer: (result: TokenReviewResult) => void; fail: () => void }[] = [];
    const tokens = new ServiceAccountTokens(
      (token) =>
        new Promise<TokenReviewResult>((resolve, reject) => {
          pending.push({ token, answer: resolve, fail: () => reject(new Error('connection reset')) });
        }),
      'herald',
      logger,
      4,
    );
    const authenticator = new Authenticator({ kubernetes: tokens, maxAuthorizationSize: 8192 });
    const sent = Array.from({ length: 7 }, (_, i) => saToken(`sa-${i}`));
    const answers = sent.map((token) => refusal(authenticator.authenticate(request(token))));
    expect(pending).toHaveLength(4);
    // The three over the cap are refused while the four reviews are still unanswered (a bound, no timing).
    const unanswered = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000));
    for (const answer of answers.slice(4)) {
      const error = await Promise.race([answer, unanswered]);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error).toMatchObject({ code: 'HERALD_AUTH_UNAVAILABLE', reason: 'busy', retryAfter: 1 });
      expect((error as AuthenticationError).status).toBe(503);
    }
    // A request with a token already under review shares that review, even at the cap.
    const again = authenticator.authenticate(request(sent[0] as string));
    expect(pending).toHaveLength(4);

    // Answered reviews free their slots (a failed one too); a refusal for being busy is not remembered.
    for (const review of pending.slice(0, 3)) {
      review.answer({
        authenticated: true,
        username: `system:serviceaccount:shop:${String(nameOf(review.token))}`,
        audiences: ['herald'],
      });
    }
    pending[3]?.fail();
    expect(await answers[0]).toBeUndefined();
    expect(await again).toEqual({ principal: 'system:serviceaccount:shop:sa-0', method: 'kubernetes' });
    expect(await answers[3]).toMatchObject({ reason: 'backend' });
    const retried = authenticator.authenticate(request(sent[6] as string));
    expect(pending).toHaveLength(5);
    expect(pending[4]?.token).toBe(sent[6]);
    pending[4]?.answer({
      authenticated: true,
      username: 'system:serviceaccount:shop:sa-6',
      audiences: ['herald'],
    });
    expect(await retried).toMatchObject({ principal: 'system:serviceaccount:shop:sa-6' });
  });
});

describe('Authenticator with an unreachable TokenReview backend', () => {
  it('answers 503 HERALD_AUTH_UNAVAILABLE with Retry-After, not 401: the token was not judged', async () => {
    const tokens = new ServiceAccountTokens(
      async () => {
        throw new Error('connect ECONNREFUSED');
      },
      'herald',
      logger,
      16,
    );
    const authenticator = new Authenticator({ kubernetes: tokens, maxAuthorizationSize: 8192 });
    const error = await refusal(authenticator.authenticate(request(saToken('checkout'))));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ code: 'HERALD_AUTH_UNAVAILABLE', reason: 'backend', retryAfter: 1 });
    expect((error as AuthenticationError).status).toBe(503);
  });
});

describe('Access control when the TokenReviews are at their cap', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the refusal as busy, and an open stream is not ended by it (its credential was not judged)', async () => {
    // Only Date is faked: it lets the cached review of the stream's token expire without waiting.
    vi.useFakeTimers({ toFake: ['Date'] });
    const pending: ((result: TokenReviewResult) => void)[] = [];
    const tokens = new ServiceAccountTokens(
      () => new Promise<TokenReviewResult>((resolve) => pending.push(resolve)),
      'herald',
      logger,
      1,
    );
    const metrics = new BrokerMetrics(false);
    const access = new AccessControl({
      authenticator: new Authenticator({ kubernetes: tokens, maxAuthorizationSize: 8192 }),
      policy: new PolicySet('allow-authenticated'),
      metrics,
      ownership: { subscription: () => ({ exists: false, owner: undefined }), seedGroup: () => [] },
    });
    const stream = request(saToken('reader'));
    const opened = access.authenticate(stream, '/events/stream');
    pending[0]?.({
      authenticated: true,
      username: 'system:serviceaccount:shop:reader',
      audiences: ['herald'],
    });
    await opened;
    const credential = access.streamCredential(stream, 'GET /events/stream');

    // Another token takes the only slot; the stream's cached review expires.
    const other = access.authenticate(request(saToken('other')), '/events');
    vi.setSystemTime(Date.now() + 11_000);
    // Refused at once, not queued behind the slot (a bound, no timing).
    const unanswered = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000));
    const third = refusal(access.authenticate(request(saToken('third')), '/events') as Promise<void>);
    const error = await Promise.race([third, unanswered]);
    expect(error).toMatchObject({ code: 'HERALD_AUTH_UNAVAILABLE', reason: 'busy' });
    const failures = await metrics.authFailures.get();
    expect(failures.values).toContainEqual(expect.objectContaining({ labels: { reason: 'busy' }, value: 1 }));
    expect(await credential.stillAllowed()).toBe(true);

    pending[1]?.({ authenticated: false });
    await refusal(other as Promise<void>);
  });
});
