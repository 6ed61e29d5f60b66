import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PREFIX = 'herald-sealed:v1:';

/**
 * Encrypts secrets at rest with AES-256-GCM (`--secret-key-file`). A sealed value is
 * `herald-sealed:v1:` + base64(12-byte IV | 16-byte tag | ciphertext); the tag makes a tampered or
 * wrong-key value fail to open instead of decrypting to garbage.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** Reads a key file: 32 raw bytes, 64 hex digits or base64 of 32 bytes (trailing whitespace ignored). */
  static fromFile(file: string): SecretBox {
    const raw = readFileSync(file);
    const text = raw.toString('utf8').trim();
    let key: Buffer | undefined;
    if (/^[0-9a-f]{64}$/i.test(text)) key = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/]{43}=$/.test(text)) key = Buffer.from(text, 'base64');
    else if (raw.length === 32) key = raw;
    if (key?.length !== 32) {
      throw new Error(
        `${file}: must hold a 256-bit key (64 hex digits, base64 of 32 bytes, or 32 raw bytes)`,
      );
    }
    return new SecretBox(key);
  }

  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string): string {
    const bytes = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  }
}
