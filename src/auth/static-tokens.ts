import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../observability/index.js';

/** Shortest plain `token:` accepted in a tokens file: shorter ones can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** RFC 6750 §2.1 b64token: all that an `Authorization: Bearer` header can carry. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/**
 * Three base64url segments: a JWS in compact form (a JWT or a ServiceAccount token). The authenticator
 * checks a credential of this shape as a JWT, never against the tokens file.
 */
export const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const entrySchema = z
  .strictObject({
    principal: z.string().min(1),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (the SHA-256 of the token)')
      .optional(),
    // A token no request can present would be taken and then refuse every request that carries it:
    // refused here instead, so start-up fails (or a reload keeps the previous set) and says why.
    token: z
      .string()
      .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`)
      .regex(B64TOKEN, 'must be a bearer token: letters, digits and - . _ ~ + / only, then any = padding')
      .refine(
        (token) => !COMPACT_JWS.test(token),
        'has the shape of a JWT (three dot-separated parts), so requests carrying it are checked as a JWT, never as a static token',
      )
      .optional(),
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
 * are hashed at once; only digests are kept. Returns one problem per bad entry. `empty` says the file
 * held no document at all (nothing, or only comments), which is not the same as an explicit `[]`.
 */
export function parseTokensFile(
  text: string,
  file: string,
): { entries: TokenEntry[]; problems: string[]; empty: boolean } {
  const problems: string[] = [];
  const entries: TokenEntry[] = [];
  let document: unknown;
  try {
    document = parseYaml(text) as unknown;
  } catch (error) {
    return { entries, problems: [`${file}: ${(error as Error).message.split('\n')[0]}`], empty: false };
  }
  if (document === null || document === undefined) return { entries, problems, empty: true };
  if (!Array.isArray(document)) {
    return {
      entries,
      problems: [`${file}: must be a YAML list of { principal, sha256 | token }`],
      empty: false,
    };
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
  return { entries, problems, empty: false };
}

/** What changes when a file is written or replaced (also through the symlink swap of a Secret volume). */
function fileVersion(file: string): string {
  const stat = statSync(file);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

/**
 * Static bearer tokens from a file, kept as SHA-256 digests and compared in constant time. The file is
 * polled: a changed file replaces the set without a restart; a broken one is logged and the previous
 * set stays in force.
 *
 * @remarks A changed file is read only once it stayed unchanged for a whole poll interval, and taken
 * only if it did not change while being read: a file caught part-way through a write (a `token:` value
 * cut short is a valid, shorter token) is never taken. A reload that finds the file empty is refused:
 * `: > tokens.yaml` or an editor's truncation must not lock everyone out; an explicit `[]` revokes all.
 */
export class StaticTokens {
  private entries: readonly TokenEntry[];
  /** The file's version last read (taken or refused), so a refused version is logged once. */
  private read: string | undefined;
  /** A changed version seen by the last poll: read when the next poll finds it unchanged. */
  private settling: string | undefined;
  private readonly poller: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    pollIntervalMs = 500,
  ) {
    this.read = versionOrUndefined(file);
    const { entries, problems } = parseTokensFile(readTokens(file), file);
    if (problems.length > 0) throw new TokensFileError(problems);
    this.entries = entries;
    // Polling (not fs.watch) follows the atomic symlink swaps with which Kubernetes updates mounted secrets.
    this.poller = setInterval(() => this.poll(), pollIntervalMs);
    this.poller.unref();
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
    clearInterval(this.poller);
  }

  private poll(): void {
    const version = versionOrUndefined(this.file) ?? MISSING;
    if (version === MISSING && this.read !== MISSING) {
      this.read = MISSING;
      this.logger.error({ file: this.file }, 'tokens file missing; keeping the previous tokens');
    }
    if (version === this.read) {
      this.settling = undefined;
      return;
    }
    if (version !== this.settling) {
      // Changed since the last poll: perhaps still being written. Read it once it stops changing.
      this.settling = version;
      return;
    }
    this.settling = undefined;
    this.reload(version);
  }

  private reload(version: string): void {
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
    // Written to while it was read: the text may be a mix of two versions. The next polls settle it.
    if (versionOrUndefined(this.file) !== version) return;
    this.read = version;
    const { entries, problems, empty } = parseTokensFile(text, this.file);
    if (empty) {
      this.logger.error(
        { file: this.file },
        'tokens file empty; keeping the previous tokens (write [] to revoke every token)',
      );
      return;
    }
    if (problems.length > 0) {
      this.logger.error({ problems, file: this.file }, 'tokens file invalid; keeping the previous tokens');
      return;
    }
    this.entries = entries;
    this.logger.info({ file: this.file, tokens: entries.length }, 'tokens reloaded');
  }
}

/** The version of a file that is not there (deleted, or between the steps of a non-atomic swap). */
const MISSING = 'missing';

function versionOrUndefined(file: string): string | undefined {
  try {
    return fileVersion(file);
  } catch {
    return undefined;
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
