import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../observability/index.js';

/** Shortest plain `token:` accepted in a tokens file: shorter ones can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

const entrySchema = z
  .strictObject({
    principal: z.string().min(1),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (the SHA-256 of the token)')
      .optional(),
    token: z.string().min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`).optional(),
  })
  .refine(
    (e) => (e.sha256 === undefined) !== (e.token === undefined),
    'give exactly one of sha256 and token',
  );

interface TokenEntry {
  readonly principal: string;
  readonly digest: Buffer;
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Parses a tokens file: a YAML list of `{ principal, sha256 }` or `{ principal, token }`. Plain tokens
 * are hashed at once; only digests are kept. Returns one problem per bad entry.
 */
export function parseTokensFile(text: string, file: string): { entries: TokenEntry[]; problems: string[] } {
  const problems: string[] = [];
  const entries: TokenEntry[] = [];
  let document: unknown;
  try {
    document = parseYaml(text) as unknown;
  } catch (error) {
    return { entries, problems: [`${file}: ${(error as Error).message.split('\n')[0]}`] };
  }
  if (document === null || document === undefined) document = [];
  if (!Array.isArray(document)) {
    return { entries, problems: [`${file}: must be a YAML list of { principal, sha256 | token }`] };
  }
  document.forEach((item: unknown, index) => {
    const result = entrySchema.safeParse(item);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const where = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
        problems.push(`${file}: [${index}]${where}: ${issue.message}`);
      }
      return;
    }
    const { principal, sha256: hex, token } = result.data;
    entries.push({
      principal,
      digest: hex !== undefined ? Buffer.from(hex, 'hex') : sha256(token as string),
    });
  });
  return { entries, problems };
}

/**
 * Static bearer tokens from a file, kept as SHA-256 digests and compared in constant time. The file is
 * watched: a changed file replaces the set without a restart; a broken one is logged and the previous
 * set stays in force.
 */
export class StaticTokens {
  private entries: readonly TokenEntry[];
  private readonly onChange = () => this.reload();

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    pollIntervalMs = 500,
  ) {
    const { entries, problems } = parseTokensFile(readTokens(file), file);
    if (problems.length > 0) throw new TokensFileError(problems);
    this.entries = entries;
    // Polling (not fs.watch) follows the atomic symlink swaps with which Kubernetes updates mounted secrets.
    watchFile(file, { interval: pollIntervalMs, persistent: false }, this.onChange);
  }

  /** The principal of a token, or undefined. Every entry is compared, so timing says nothing about which. */
  verify(token: string): string | undefined {
    const digest = sha256(token);
    let found: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry.principal;
    }
    return found;
  }

  close(): void {
    unwatchFile(this.file, this.onChange);
  }

  private reload(): void {
    let text: string;
    try {
      text = readTokens(this.file);
    } catch (error) {
      this.logger.error(
        { err: error, file: this.file },
        'tokens file unreadable; keeping the previous tokens',
      );
      return;
    }
    const { entries, problems } = parseTokensFile(text, this.file);
    if (problems.length > 0) {
      this.logger.error({ problems, file: this.file }, 'tokens file invalid; keeping the previous tokens');
      return;
    }
    this.entries = entries;
    this.logger.info({ file: this.file, tokens: entries.length }, 'tokens reloaded');
  }
}

function readTokens(file: string): string {
  return readFileSync(file, 'utf8');
}

/** A tokens file that cannot be used at start-up: one problem per line. */
export class TokensFileError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'TokensFileError';
  }
}
