import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
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
      const { payload } = await jwtVerify(token, this.keys, {
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

function readKeySet(file: string): JSONWebKeySet {
  const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error(`${file}: not a JSON Web Key Set ({"keys": [...]})`);
  }
  return value as JSONWebKeySet;
}
