import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseTokensFile, sha256 } from './static-tokens.js';

describe('tokens file', () => {
  it('keeps only digests, for sha256 and plain token entries alike', () => {
    const token = 'a-long-enough-token-0123';
    const hex = createHash('sha256').update('other-token-0123456789').digest('hex');
    const { entries, problems } = parseTokensFile(
      `- { principal: plain, token: ${token} }\n- { principal: hashed, sha256: ${hex.toUpperCase()} }\n`,
      't.yaml',
    );
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.principal)).toEqual(['plain', 'hashed']);
    expect(entries[0]?.digest.equals(sha256(token))).toBe(true);
    expect(entries[1]?.digest.toString('hex')).toBe(hex);
    expect(JSON.stringify(entries)).not.toContain(token);
  });

  it('reports every bad entry, and tells an empty file from an explicit empty list', () => {
    const { problems } = parseTokensFile(
      `- { principal: a, token: short }
- { principal: b, sha256: abcd }
- { principal: c }
- { principal: d, token: a-long-enough-token-0123, sha256: ${'0'.repeat(64)} }
- { principal: e, token: a-long-enough-token-0123, role: admin }
`,
      't.yaml',
    );
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(/^t\.yaml: \[0\]\.token: must be at least 16 characters/);
    expect(problems[1]).toMatch(/^t\.yaml: \[1\]\.sha256: must be 64 hex digits/);
    expect(problems[2]).toMatch(/\[2\]: give exactly one of sha256 and token/);
    expect(parseTokensFile('', 't.yaml')).toEqual({ entries: [], problems: [], empty: true });
    expect(parseTokensFile('# nothing yet\n', 't.yaml').empty).toBe(true);
    expect(parseTokensFile('[]\n', 't.yaml')).toEqual({ entries: [], problems: [], empty: false });
    expect(parseTokensFile('a: 1', 't.yaml').problems).toHaveLength(1);
  });

  it('refuses a plain token no Authorization: Bearer header can present as a static token', () => {
    // RFC 6750 b64token: letters, digits, - . _ ~ + / and trailing =. A token with a space, a quote or
    // a colon never passes the bearer syntax, and one shaped like a JWT (three dot-separated parts) is
    // checked as a JWT: either would be taken here and then refuse every request that carries it.
    const { entries, problems } = parseTokensFile(
      `- { principal: spaces, token: "correct horse battery staple" }
- { principal: symbols, token: "p@ss:w0rd!#0123456789" }
- { principal: jwt-shaped, token: "aaaaaaaa.bbbbbbbb.cccccccc" }
- { principal: fine, token: "Zm9vYmFy.0123456789+/_-~==" }
`,
      't.yaml',
    );
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^t\.yaml: \[0\]\.token: /);
    expect(problems[1]).toMatch(/^t\.yaml: \[1\]\.token: /);
    expect(problems[2]).toMatch(/^t\.yaml: \[2\]\.token: .*JWT/);
    expect(entries.map((e) => e.principal)).toEqual(['fine']);
  });
});
