// A JWT's `kid` is optional (RFC 7515 §4.1.4), and some issuers leave it out. While the key set holds one
// key of the token's algorithm that key is the only candidate; during a key rotation the set publishes
// the old and the new key together, and every token without `kid` must still be checked against each of
// them — not refused as a whole because more than one key could have signed it.
import { writeFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { sleep } from '../support/http.js';
import { AUDIENCE, ISSUER, jwks, jwt, publishWithToken, signingKey, useSecureBroker } from './fixtures.js';
import type { SigningKey } from './fixtures.js';

const secure = useSecureBroker();

const now = () => Math.floor(Date.now() / 1000);

/** A JWT like `jwt()`'s, without `kid` in its header. */
function kidless(key: SigningKey, sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub, iat: now(), exp: now() + 3600, ...claims })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .sign(key.privateKey);
}

async function statusOf(token: string, id: string): Promise<number> {
  return (await publishWithToken(secure(), token, id)).status;
}

describe('a JWT without kid', () => {
  it('is accepted during a key rotation (two keys of its algorithm in the set) and refused when no key signed it', async () => {
    const { key, strangerKey, files } = secure();
    expect(await statusOf(await kidless(key, 'alice'), 'kidless-one-key')).toBe(202);

    const next = await signingKey('key-2');
    writeFileSync(files.jwks, jwks(key, next));
    // The file is polled: the rotation is in force once a token naming the new key's kid is accepted.
    const named = await jwt(next, 'alice');
    const deadline = Date.now() + 15_000;
    while ((await statusOf(named, 'kid-named')) !== 202) {
      if (Date.now() > deadline) throw new Error('the rotated JWKS file was not picked up');
      await sleep(200);
    }

    expect(await statusOf(await kidless(key, 'alice'), 'kidless-old-key')).toBe(202);
    expect(await statusOf(await kidless(next, 'alice'), 'kidless-new-key')).toBe(202);
    // Trying every key is no way around the other checks.
    expect(await statusOf(await kidless(strangerKey, 'alice'), 'kidless-stranger')).toBe(401);
    expect(await statusOf(await kidless(next, 'alice', { aud: 'someone-else' }), 'kidless-aud')).toBe(401);
    expect(await statusOf(await kidless(key, 'alice', { exp: now() - 600 }), 'kidless-expired')).toBe(401);
  });
});
