import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../observability/index.js';
import { JwtVerifier } from './jwt.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-jwt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function setUp(issuers: string[]) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const file = path.join(dir, `jwks-${issuers.length}.json`);
  writeFileSync(
    file,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }),
  );
  const verifier = new JwtVerifier({
    jwks: file,
    issuers,
    audience: 'aud',
    logger: createLogger('silent'),
    cooldownMs: 1000,
  });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(
      Object.fromEntries(
        Object.entries({ iss: issuers[0], aud: 'aud', sub: 'alice', exp: now() + 60, ...claims }).filter(
          ([, value]) => value !== undefined,
        ),
      ),
    )
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(privateKey);
  return { verifier, sign, publicPem: await exportSPKI(publicKey) };
}

describe('JwtVerifier', () => {
  it('returns sub for a valid token, issuer-qualified when several issuers are accepted', async () => {
    const one = await setUp(['https://a']);
    expect(await one.verifier.verify(await one.sign({}))).toBe('alice');
    one.verifier.close();
    const two = await setUp(['https://a', 'https://b']);
    expect(await two.verifier.verify(await two.sign({ iss: 'https://b' }))).toBe('https://b#alice');
    two.verifier.close();
  });

  it('refuses bad times, issuers, audiences, missing claims, alg none and HMAC key confusion', async () => {
    const { verifier, sign, publicPem } = await setUp(['https://a']);
    const refused = [
      await sign({ exp: now() - 60 }),
      await sign({ nbf: now() + 60 }),
      await sign({ iss: 'https://evil' }),
      await sign({ aud: 'other' }),
      await sign({ sub: undefined }),
      await sign({ exp: undefined }),
      `${b64({ alg: 'none' })}.${b64({ iss: 'https://a', aud: 'aud', sub: 'alice', exp: now() + 60 })}.`,
    ];
    const input = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64({ iss: 'https://a', aud: 'aud', sub: 'alice', exp: now() + 60 })}`;
    refused.push(`${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`);
    for (const token of refused) expect(await verifier.verify(token)).toBeUndefined();
    verifier.close();
  });

  it('checks a token without kid against each key of its algorithm when the set holds several', async () => {
    type Pair = Awaited<ReturnType<typeof generateKeyPair>>;
    const pair = (): Promise<Pair> => generateKeyPair('ES256', { extractable: true });
    const [old, next, stranger] = await Promise.all([pair(), pair(), pair()]);
    const file = path.join(dir, 'jwks-rotation.json');
    // A rotation: the old and the new key published together, neither named in the tokens.
    const published = await Promise.all([old, next].map(({ publicKey }) => exportJWK(publicKey)));
    writeFileSync(file, JSON.stringify({ keys: published.map((jwk) => ({ ...jwk, alg: 'ES256' })) }));
    const verifier = new JwtVerifier({
      jwks: file,
      issuers: ['https://a'],
      audience: 'aud',
      logger: createLogger('silent'),
      cooldownMs: 1000,
    });
    const sign = (key: Pair['privateKey'], claims: Record<string, unknown> = {}) =>
      new SignJWT({ iss: 'https://a', aud: 'aud', sub: 'alice', exp: now() + 60, ...claims })
        .setProtectedHeader({ alg: 'ES256' })
        .sign(key);
    expect(await verifier.verify(await sign(old.privateKey))).toBe('alice');
    expect(await verifier.verify(await sign(next.privateKey))).toBe('alice');
    expect(await verifier.verify(await sign(stranger.privateKey))).toBeUndefined();
    expect(await verifier.verify(await sign(next.privateKey, { aud: 'other' }))).toBeUndefined();
    verifier.close();
  });
});
