import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWTVerifyGetKey, JWTVerifyOptions, JWTVerifyResult } from 'jose';
import type { Logger } from '../observability/index.js';

/**
 * Only asymmetric signatures: a JWKS publishes public keys, and accepting `HS*` would let anyone who
 * has the public key mint tokens (the HMAC key-confusion attack). `none` is never accepted by jose's
 * `jwtVerify`.
 */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Seconds of clock skew allowed on `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 5;
/** A remote JWKS is refetched at least this often. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/**
 * True when verification failed because the remote key set could not be fetched (a timeout, a refused
 * connection, an answer other than 200), not because of the token: jose's own refusals carry `ERR_J…`
 * codes, and a key set that did not come is `ERR_JWKS_TIMEOUT` or a generic error naming the status.
 */
function keySetUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_JWKS_TIMEOUT') return true;
  if (typeof code !== 'string' || !code.startsWith('ERR_J')) return true;
  return code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set HTTP response/.test((error as Error).message);
}

export interface JwtVerifierOptions {
  /** A file path or an http(s) URL. */
  readonly jwks: string;
  readonly issuers: readonly string[];
  readonly audience: string;
  readonly logger: Logger;
  /** A remote JWKS is refetched for an unknown `kid` at most this often (key rotation without a storm). */
  readonly cooldownMs: number;
}

/** Verifies JWTs against a JWKS (a watched file or a cached URL) with issuer, audience and time checks. */
export class JwtVerifier {
  private keys: JWTVerifyGetKey;
  private readonly file: string | undefined;
  private readonly onChange = () => this.reloadFile();

  constructor(private readonly options: JwtVerifierOptions) {
    if (/^https?:\/\//i.test(options.jwks)) {
      this.file = undefined;
      this.keys = createRemoteJWKSet(new URL(options.jwks), {
        cooldownDuration: options.cooldownMs,
        cacheMaxAge: JWKS_MAX_AGE_MS,
        timeoutDuration: 5_000,
      });
    } else {
      this.file = options.jwks;
      this.keys = createLocalJWKSet(readKeySet(options.jwks));
      watchFile(options.jwks, { interval: 500, persistent: false }, this.onChange);
    }
  }

  /** The principal of a valid token, or undefined (the reason is logged at debug, never returned). */
  async verify(token: string): Promise<string | undefined> {
    const { issuers, audience, logger } = this.options;
    try {
      const { payload } = await verifyWithEachKey(token, this.keys, {
        issuer: [...issuers],
        audience,
        algorithms: [...JWT_ALGORITHMS],
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      const subject = payload.sub;
      if (typeof subject !== 'string' || subject === '') return undefined;
      return issuers.length > 1 ? `${payload.iss ?? ''}#${subject}` : subject;
    } catch (error) {
      // The key set's server did not answer: the token may well be valid (the caller answers 503).
      if (keySetUnreachable(error)) throw error;
      logger.debug({ reason: (error as { code?: string }).code ?? (error as Error).message }, 'jwt refused');
      return undefined;
    }
  }

  /** True when the token names one of the accepted issuers (unverified; used only to choose a method). */
  claimsIssuer(issuer: string | undefined): boolean {
    return issuer !== undefined && this.options.issuers.includes(issuer);
  }

  close(): void {
    if (this.file !== undefined) unwatchFile(this.file, this.onChange);
  }

  private reloadFile(): void {
    const file = this.file as string;
    try {
      this.keys = createLocalJWKSet(readKeySet(file));
      this.options.logger.info({ file }, 'jwks reloaded');
    } catch (error) {
      this.options.logger.error({ err: error, file }, 'jwks file invalid; keeping the previous keys');
    }
  }
}

/**
 * `jwtVerify` against the key set. A token without `kid` (optional, RFC 7515 §4.1.4) matches every key of
 * its algorithm, and while the set holds several (every rotation publishes the old and the new key
 * together) jose refuses to choose: each candidate is tried in turn, as jose documents, and a signature
 * none of them verifies is refused like any other. A candidate whose signature verifies decides: its
 * claim checks (issuer, audience, times) are the answer. The candidates are the operator's own keys of
 * that algorithm, so the work a forged token costs is bounded by the key set.
 */
async function verifyWithEachKey(
  token: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, keys, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const candidate of error as AsyncIterable<CryptoKey>) {
      try {
        return await jwtVerify(token, candidate, options);
      } catch (refusal) {
        if (refusal instanceof errors.JWSSignatureVerificationFailed) continue;
        throw refusal;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function readKeySet(file: string): JSONWebKeySet {
  const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error(`${file}: not a JSON Web Key Set ({"keys": [...]})`);
  }
  return value as JSONWebKeySet;
}
