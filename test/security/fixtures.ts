// Credentials and brokers for the security suites: static tokens, JWTs signed at run time (good and
// hostile ones), a policy, and a broker started with all of it through the shared harness.
import { createHmac, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { freePort } from '../infra/process.js';
import { afterAll, beforeAll } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, send } from '../support/http.js';
import type { RawResponse } from '../support/http.js';

export const ISSUER = 'https://issuer.herald.test';
export const AUDIENCE = 'herald-tests';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  readonly publicJwk: JWK;
  readonly publicPem: string;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export function jwks(...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
}

const now = () => Math.floor(Date.now() / 1000);

/** A JWT for `sub` valid for an hour; `claims` override (e.g. exp in the past, another iss). */
export function jwt(key: SigningKey, sub: string, claims: JWTPayload = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub, iat: now(), exp: now() + 3600, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function claims(sub: string): JWTPayload {
  return { iss: ISSUER, aud: AUDIENCE, sub, iat: now(), exp: now() + 3600 };
}

/** An unsigned token (`alg: none`): must never be accepted. */
export function algNoneJwt(sub: string): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims(sub))}.`;
}

/** HS256 "signed" with the public key as the HMAC secret: the key-confusion attack. */
export function hmacConfusionJwt(key: SigningKey, sub: string, secret = key.publicPem): string {
  const signingInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64(claims(sub))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** A valid token whose payload was changed after signing. */
export async function tamperedJwt(key: SigningKey, sub: string, as: string): Promise<string> {
  const [header, , signature] = (await jwt(key, sub)).split('.');
  return `${header}.${b64(claims(as))}.${signature}`;
}

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');

export const TOKENS = {
  alice: `alice-${randomBytes(16).toString('hex')}`,
  bob: `bob-${randomBytes(16).toString('hex')}`,
  ops: `ops-${randomBytes(16).toString('hex')}`,
  reader: `reader-${randomBytes(16).toString('hex')}`,
  nobody: `nobody-${randomBytes(16).toString('hex')}`,
} as const;

export function tokensFile(entries: Record<string, string>, plain: readonly string[] = []): string {
  return (
    Object.entries(entries)
      .map(([principal, token]) =>
        plain.includes(principal)
          ? `- { principal: ${principal}, token: "${token}" }`
          : `- { principal: ${principal}, sha256: "${sha256Hex(token)}" }`,
      )
      .join('\n') + '\n'
  );
}

export const POLICY = `rules:
  - principals: [alice, bob, "team-*"]
    actions: [publish, subscribe, read]
  - principals: [ops]
    actions: [admin]
  - principals: [shop]
    actions: [publish]
    filter: "type LIKE 'com.shop.%'"
  - principals: [reader]
    actions: [read]
`;

export interface SecureBroker {
  readonly broker: BrokerProcess;
  readonly dir: string;
  readonly key: SigningKey;
  /** A key the broker does not know (its kid is not in the JWKS). */
  readonly strangerKey: SigningKey;
  readonly files: { readonly tokens: string; readonly jwks: string; readonly policy: string };
  bearer(principal: keyof typeof TOKENS): Record<string, string>;
}

/** A broker with tokens and JWT authentication, the test policy, and an admin port. */
export async function startSecureBroker(
  extraArgs: readonly string[] = [],
  /** Called with every chunk of the broker's log (to wait for a reload's log line). */
  onOutput?: (text: string) => void,
): Promise<SecureBroker> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-security-'));
  const [key, strangerKey] = await Promise.all([signingKey('key-1'), signingKey('stranger')]);
  const files = {
    tokens: path.join(dir, 'tokens.yaml'),
    jwks: path.join(dir, 'jwks.json'),
    policy: path.join(dir, 'policy.yaml'),
  };
  writeFileSync(files.tokens, tokensFile(TOKENS, ['bob']));
  writeFileSync(files.jwks, jwks(key));
  writeFileSync(files.policy, POLICY);
  const broker = await startBroker({
    args: [
      '--admin-port',
      String(await freePort()),
      '--auth',
      'tokens,jwt',
      '--auth-tokens',
      files.tokens,
      '--jwt-jwks',
      files.jwks,
      '--jwt-issuer',
      ISSUER,
      '--jwt-audience',
      AUDIENCE,
      '--policy',
      files.policy,
      ...extraArgs,
    ],
    ...(onOutput === undefined ? {} : { onOutput }),
  });
  return {
    broker,
    dir,
    key,
    strangerKey,
    files,
    bearer: (principal) => ({ authorization: `Bearer ${TOKENS[principal]}` }),
  };
}

/**
 * Starts a secure broker (`startSecureBroker`) before the file's tests and stops it (removing its files)
 * after them; the returned function gives it to the tests.
 */
export function useSecureBroker(
  extraArgs: readonly string[] = [],
  onOutput?: (text: string) => void,
): () => SecureBroker {
  let secure: SecureBroker | undefined;
  beforeAll(async () => {
    secure = await startSecureBroker(extraArgs, onOutput);
  });
  afterAll(async () => {
    if (secure === undefined) return;
    await secure.broker.stop();
    removeDir(secure.broker.dataDir);
    removeDir(secure.dir);
  });
  return () => secure as SecureBroker;
}

/** Publishes one binary-mode event with a bearer token; resolves with the broker's answer. */
export function publishWithToken(secure: SecureBroker, token: string, id: string): Promise<RawResponse> {
  return send(secure.broker.url, {
    path: '/events',
    headers: { ...binaryHeaders(id), authorization: `Bearer ${token}` },
  });
}
