import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefinitionSecrets } from './definition-secrets.js';
import { SecretBox } from './sealing.js';
import { SensitiveHeaders } from './sensitive.js';
import { authorizationFor } from './credential.js';

function keyFile(content: string | Buffer): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'herald-key-')), 'key');
  writeFileSync(file, content);
  return file;
}

describe('secrets at rest', () => {
  const box = SecretBox.fromFile(keyFile('ab'.repeat(32)));
  const secrets = new DefinitionSecrets(box, SensitiveHeaders.parse('x-api-key'));
  const definition = {
    id: 's',
    sinkcredential: { credentialtype: 'ACCESSTOKEN', accesstoken: 'tok-123' },
    protocolsettings: { headers: { 'X-Api-Key': 'k-456', 'x-team': 'blue' } },
  };

  it('seals the credential and sensitive headers, and opens them again', () => {
    const sealed = secrets.seal(definition);
    const text = JSON.stringify(sealed);
    expect(text).not.toContain('tok-123');
    expect(text).not.toContain('k-456');
    expect(text).toContain('blue');
    expect(secrets.open(sealed)).toEqual(definition);
  });

  it('refuses a wrong key and a missing key instead of returning garbage', () => {
    const sealed = secrets.seal(definition);
    const other = new DefinitionSecrets(
      SecretBox.fromFile(keyFile('cd'.repeat(32))),
      SensitiveHeaders.parse(''),
    );
    expect(() => other.open(sealed)).toThrow(/another key sealed it/);
    expect(() => new DefinitionSecrets(undefined, SensitiveHeaders.parse('')).open(sealed)).toThrow(
      /--secret-key-file/,
    );
  });

  it('rejects key files that are not 256 bits', () => {
    expect(() => SecretBox.fromFile(keyFile('short'))).toThrow(/256-bit/);
  });

  it('turns credentials into Authorization headers', () => {
    expect(authorizationFor({ credentialtype: 'ACCESSTOKEN', accesstoken: 't' })).toBe('Bearer t');
    expect(authorizationFor({ credentialtype: 'PLAIN', identity: 'u', secret: 'p' })).toBe(
      `Basic ${Buffer.from('u:p').toString('base64')}`,
    );
    expect(authorizationFor({ secretRef: { name: 'x' } })).toBeUndefined();
  });
});
