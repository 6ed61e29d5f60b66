// Reloading the tokens file: an emptied file must not lock everyone out (an explicit [] revokes all), and
// a file caught part-way through a write (a `token:` value cut short is a valid, shorter token) is
// never taken.
import { appendFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../support/http.js';
import { publishWithToken, TOKENS, tokensFile, useSecureBroker } from './fixtures.js';
import type { SecureBroker } from './fixtures.js';

let log = '';
const started = useSecureBroker([], (text) => (log += text));
let secure: SecureBroker;
beforeAll(() => {
  secure = started();
});

const publish = (token: string, id: string) => publishWithToken(secure, token, id);

const count = (message: string) => log.split('\n').filter((line) => line.includes(message)).length;

/** Waits for the `n`th log line with `message` (the file is polled every 500 ms). */
async function logged(message: string, n: number): Promise<void> {
  for (let i = 0; i < 150 && count(message) < n; i++) await sleep(100);
  expect(count(message)).toBeGreaterThanOrEqual(n);
}

describe('tokens file reload', () => {
  it('refuses an emptied file and keeps the tokens; an explicit [] revokes every token', async () => {
    const reloads = count('"tokens reloaded"');
    writeFileSync(secure.files.tokens, '');
    await logged('tokens file empty', 1);
    expect(count('"tokens reloaded"')).toBe(reloads);
    expect((await publish(TOKENS.alice, 'alice-kept')).status).toBe(202);

    writeFileSync(secure.files.tokens, '[]\n');
    await logged('"tokens reloaded"', reloads + 1);
    expect((await publish(TOKENS.alice, 'alice-revoked')).status).toBe(401);

    writeFileSync(secure.files.tokens, tokensFile(TOKENS, ['bob']));
    await logged('"tokens reloaded"', reloads + 2);
    expect((await publish(TOKENS.alice, 'alice-back')).status).toBe(202);
  });

  it('takes a file written slowly only once it is complete, never a prefix of its token', async () => {
    const green = `team-green-${'0123456789abcdef'.repeat(4)}`;
    const reloads = count('"tokens reloaded"');
    // Every state of the file while it is written is a valid file whose last token is a prefix of green
    // (at least 16 characters): each one taken would be a token nobody was given.
    writeFileSync(
      secure.files.tokens,
      `${tokensFile(TOKENS, ['bob'])}- principal: team-green\n  token: ${green.slice(0, 20)}`,
    );
    // The broker takes a file two polls (500 ms apart) see unchanged: a writer that pauses that long hands
    // it a prefix by design. The longest pause between this test's appends says whether it kept writing.
    let longestPause = 0;
    let last = Date.now();
    for (const char of green.slice(20)) {
      await sleep(20);
      appendFileSync(secure.files.tokens, char);
      longestPause = Math.max(longestPause, Date.now() - last);
      last = Date.now();
    }
    appendFileSync(secure.files.tokens, '\n');
    await logged('"tokens reloaded"', reloads + 1);
    expect((await publish(green, 'green-complete')).status).toBe(202);
    expect((await publish(green.slice(0, 20), 'green-prefix')).status).toBe(401);
    // One reload, of the complete file: none of a state in between (unless this process itself stalled for
    // a poll interval mid-write, which a loaded machine can do; then a prefix was a settled file).
    await sleep(1_500);
    if (longestPause < 450) expect(count('"tokens reloaded"')).toBe(reloads + 1);
    else expect(count('"tokens reloaded"')).toBeGreaterThan(reloads);
  });
});
