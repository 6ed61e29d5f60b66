import type { IncomingMessage } from 'node:http';
import { HeraldError } from '../errors/index.js';
import type { ErrorCode, HeraldErrorOptions } from '../errors/index.js';
import type { RequestIdentity } from '../http/index.js';
import type { JwtVerifier } from './jwt.js';
import { COMPACT_JWS } from './static-tokens.js';
import type { StaticTokens } from './static-tokens.js';
import { TokenReviewsBusy } from './token-review.js';
import type { ServiceAccountTokens } from './token-review.js';

/** RFC 6750 §2.1: `Bearer` and a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Why authentication failed, for metrics and logs only: the client always gets the same answer. `busy`:
 * `--token-review-concurrency` reviews were in flight already.
 */
export type AuthFailure = 'missing' | 'malformed' | 'invalid' | 'oversized' | 'backend' | 'busy';

/** The registry code, detail and options each failure answers with. */
function failureProblem(reason: AuthFailure): [ErrorCode, string, HeraldErrorOptions] {
  if (reason === 'oversized') {
    return ['HERALD_AUTHORIZATION_TOO_LARGE', 'the Authorization header is too large', {}];
  }
  if (reason === 'busy') {
    // As for `backend`: the credential was not judged, and a moment later a slot is free.
    return [
      'HERALD_AUTH_UNAVAILABLE',
      'too many credentials are being checked with the Kubernetes API server now; retry',
      { retryAfter: 1 },
    ];
  }
  if (reason === 'backend') {
    // The credential may well be valid: a 401 would tell the client to give up on it, while the failure
    // is ours and passes (the API server is restarting or unreachable).
    return [
      'HERALD_AUTH_UNAVAILABLE',
      'the credential could not be checked now (the key set URL or the Kubernetes API server did not answer); retry',
      { retryAfter: 1 },
    ];
  }
  return [
    'HERALD_UNAUTHENTICATED',
    'this request needs a valid bearer credential (Authorization: Bearer ...)',
    {},
  ];
}

export class AuthenticationError extends HeraldError {
  constructor(readonly reason: AuthFailure) {
    super(...failureProblem(reason));
  }
}

export interface AuthenticatorParts {
  readonly tokens?: StaticTokens | undefined;
  readonly jwt?: JwtVerifier | undefined;
  readonly kubernetes?: ServiceAccountTokens | undefined;
  readonly maxAuthorizationSize: number;
}

/** One claim of a compact JWS's payload, unverified (undefined when it is not there or not parseable). */
function unverifiedClaim(token: string, claim: 'iss' | 'exp'): unknown {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as unknown;
    return (payload as Record<string, unknown> | null)?.[claim];
  } catch {
    return undefined;
  }
}

function unverifiedIssuer(token: string): string | undefined {
  const iss = unverifiedClaim(token, 'iss');
  return typeof iss === 'string' ? iss : undefined;
}

/**
 * When the bearer credential of `header` expires (epoch milliseconds), from a JWT's `exp`; undefined for
 * opaque tokens and JWTs without one. Read without verifying: call it only for a header that
 * {@link Authenticator.authenticate} accepted, whose signature (and so whose `exp`) was checked.
 */
export function credentialExpiry(header: string | undefined): number | undefined {
  const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
  if (token === undefined || !COMPACT_JWS.test(token)) return undefined;
  const exp = unverifiedClaim(token, 'exp');
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/**
 * Establishes who sent a request from its bearer credential. The method is chosen by the credential's
 * shape: an opaque token is a static token; a JWT naming a `--jwt-issuer` goes to the JWKS; any other
 * JWT to the TokenReview. Each credential is checked by exactly one method.
 */
export class Authenticator {
  constructor(private readonly parts: AuthenticatorParts) {}

  async authenticate(req: IncomingMessage): Promise<RequestIdentity> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') throw new AuthenticationError('missing');
    if (header.length > this.parts.maxAuthorizationSize) throw new AuthenticationError('oversized');
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new AuthenticationError('malformed');
    const { tokens, jwt, kubernetes } = this.parts;
    if (!COMPACT_JWS.test(token)) {
      const principal = tokens?.verify(token);
      if (principal === undefined) throw new AuthenticationError('invalid');
      return { principal, method: 'tokens' };
    }
    if (jwt !== undefined && (kubernetes === undefined || jwt.claimsIssuer(unverifiedIssuer(token)))) {
      let principal: string | undefined;
      try {
        principal = await jwt.verify(token);
      } catch {
        throw new AuthenticationError('backend');
      }
      if (principal === undefined) throw new AuthenticationError('invalid');
      return { principal, method: 'jwt' };
    }
    if (kubernetes !== undefined) {
      let principal: string | undefined;
      try {
        principal = await kubernetes.verify(token);
      } catch (error) {
        throw new AuthenticationError(error instanceof TokenReviewsBusy ? 'busy' : 'backend');
      }
      if (principal === undefined) throw new AuthenticationError('invalid');
      return { principal, method: 'kubernetes' };
    }
    throw new AuthenticationError('invalid');
  }

  close(): void {
    this.parts.tokens?.close();
    this.parts.jwt?.close();
  }
}
