// The TokenReview cache in isolation; the reviews themselves run against a real API server in
// test/k8s/auth.test.ts. Here a reviewer that counts calls stands in for it.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../observability/index.js';
import { AuthenticationError, Authenticator } from './authenticator.js';
import { ServiceAccountTokens } from './token-review.js';
import type { TokenReviewResult } from './token-review.js';

const logger = createLogger('silent');

describe('ServiceAccount token cache', () => {
  it('asks once for concurrent and repeated requests with one token, and checks the audience', async () => {
    let calls = 0;
    const tokens = new ServiceAccountTokens(
      async (token, audience): Promise<TokenReviewResult> => {
        calls++;
        expect(audience).toBe('herald');
        if (token === 'other-audience') {
          return { authenticated: true, username: 'system:serviceaccount:a:b', audiences: ['api'] };
        }
        if (token === 'user') return { authenticated: true, username: 'alice', audiences: ['herald'] };
        return token === 'good'
          ? { authenticated: true, username: 'system:serviceaccount:shop:checkout', audiences: ['herald'] }
          : { authenticated: false };
      },
      'herald',
      logger,
    );
    const answers = await Promise.all([tokens.verify('good'), tokens.verify('good'), tokens.verify('good')]);
    expect(answers).toEqual(Array(3).fill('system:serviceaccount:shop:checkout'));
    await tokens.verify('good');
    expect(calls).toBe(1);
    expect(await tokens.verify('bad')).toBeUndefined();
    expect(await tokens.verify('other-audience')).toBeUndefined();
    expect(await tokens.verify('user')).toBeUndefined();
  });

  // The TokenReview API: a client that sets spec.audiences must find one of them in status.audiences;
  // an authenticated review without any says the token is valid for the API server's own audience
  // (an audience-unaware reviewer), which is exactly the token --kubernetes-audience must refuse.
  it('refuses an authenticated review that names no audience', async () => {
    const tokens = new ServiceAccountTokens(
      async (token): Promise<TokenReviewResult> =>
        token === 'no-audiences'
          ? { authenticated: true, username: 'system:serviceaccount:shop:checkout' }
          : { authenticated: true, username: 'system:serviceaccount:shop:checkout', audiences: [] },
      'herald',
      logger,
    );
    expect(await tokens.verify('no-audiences')).toBeUndefined();
    expect(await tokens.verify('empty-audiences')).toBeUndefined();
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
    );
    await expect(tokens.verify('t')).rejects.toThrow();
    await expect(tokens.verify('t')).rejects.toThrow();
    expect(calls).toBe(2);
  });

  it('stays bounded', async () => {
    const tokens = new ServiceAccountTokens(async () => ({ authenticated: false }), 'herald', logger);
    for (let i = 0; i < 10_050; i++) await tokens.verify(`t-${i}`);
    expect(tokens.size).toBeLessThanOrEqual(10_000);
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
    );
    const authenticator = new Authenticator({ kubernetes: tokens, maxAuthorizationSize: 8192 });
    const req = { headers: { authorization: 'Bearer aaa.bbb.ccc' } } as IncomingMessage;
    const error = await authenticator.authenticate(req).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ code: 'HERALD_AUTH_UNAVAILABLE', reason: 'backend', retryAfter: 1 });
    expect((error as AuthenticationError).status).toBe(503);
  });
});
