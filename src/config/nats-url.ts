/**
 * `--nats-url` as the NATS client needs it. The client drops the scheme and the user information of a
 * URL, so Herald reads them itself: `tls://` asks for TLS, `nats://user:password@host` and
 * `nats://token@host` carry credentials. A password or token never leaves this module in a message.
 */
export interface NatsUrlList {
  /** `host:port` of each server, without scheme or credentials: what the client dials. */
  readonly servers: readonly string[];
  /** Each URL with its credentials replaced by `***`: safe to log and to show in errors. */
  readonly redacted: readonly string[];
  /** Some URL used `tls://`: the connection must be TLS. */
  readonly tls: boolean;
  /** Credentials from the URLs' user information (all URLs that carry any must carry the same). */
  readonly userinfo: { readonly user: string; readonly password: string | undefined } | undefined;
  /** One line per problem; no line names a password or token. */
  readonly problems: readonly string[];
}

const SCHEMES = new Set(['nats:', 'tls:']);

/** Replaces the user information of every URL in `text` with `***` (for logs and error messages). */
export function redactNatsUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s,]*@/gi, '$1***@');
}

/** Splits and checks a comma-separated `--nats-url`. */
export function parseNatsUrls(value: string): NatsUrlList {
  const servers: string[] = [];
  const redacted: string[] = [];
  const problems: string[] = [];
  let tls = false;
  let userinfo: NatsUrlList['userinfo'];
  let userinfoDiffers = false;
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) problems.push('names no server');
  for (const entry of entries) {
    const shown = redactNatsUrls(entry);
    // `host:port` without a scheme is what the client itself accepts: read it as nats://.
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      problems.push(`"${shown}" is not a URL (nats://host:port or tls://host:port)`);
      continue;
    }
    if (!SCHEMES.has(url.protocol)) {
      problems.push(`"${shown}": the scheme must be nats:// or tls://, not ${url.protocol}//`);
      continue;
    }
    if (url.hostname === '') {
      problems.push(`"${shown}" names no host`);
      continue;
    }
    if (url.protocol === 'tls:') tls = true;
    if (url.username !== '' || url.password !== '') {
      const found = {
        user: decodeURIComponent(url.username),
        password: url.password === '' ? undefined : decodeURIComponent(url.password),
      };
      if (userinfo !== undefined && (userinfo.user !== found.user || userinfo.password !== found.password)) {
        userinfoDiffers = true;
      }
      userinfo ??= found;
    }
    servers.push(url.port === '' ? url.hostname : `${url.hostname}:${url.port}`);
    redacted.push(shown);
  }
  if (userinfoDiffers)
    problems.push('the URLs carry different credentials; give one set (or use --nats-user)');
  return { servers, redacted, tls, userinfo, problems };
}
