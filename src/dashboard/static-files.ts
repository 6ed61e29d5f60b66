import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeraldError } from '../errors/index.js';
import type { Router } from '../http/index.js';

/** Where the dashboard is served. */
export const DASHBOARD_PATH = '/ui/';

/** Built next to this module by `npm run build` (`dist/ui/` beside `dist/dashboard/`). */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Vite names everything under `assets/` by content hash: it may be cached for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The HTML entry (and any unhashed file) is revalidated each time so that a new build shows at once. */
const REVALIDATE = 'no-cache';

/**
 * The page's own policy: everything from this origin, nothing inline but styles (the chart library sets
 * element styles), no framing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export interface DashboardOptions {
  /** The built assets (`index.html`, `assets/…`). */
  readonly assetsDir?: string;
}

/**
 * Serves the dashboard's static files under `/ui/`: content types, caching headers, ETags, no path
 * outside the assets folder, and `index.html` for any other page path (the app routes in the browser).
 */
export function registerDashboard(router: Router, options: DashboardOptions = {}): void {
  const root = path.resolve(options.assetsDir ?? DEFAULT_ASSETS_DIR);
  const serve = (req: IncomingMessage, res: ServerResponse, _params: unknown, url: URL) =>
    serveDashboard(root, req, res, url);
  router.on('GET', '/ui/*', serve).on('HEAD', '/ui/*', serve);
}

async function serveDashboard(
  root: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  // Set first, so that the router's problem answers (a missing file, a refused path) and the redirect
  // keep them too: no answer under /ui/ is sniffed into something else, framed or leaks a Referer.
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  if (url.pathname === '/ui') {
    // Relative asset URLs resolve against the folder, so the entry is always `/ui/`.
    res.writeHead(308, { location: `${DASHBOARD_PATH}${url.search}`, 'content-length': 0 });
    res.end();
    return;
  }
  const segments = decodeSegments(url.pathname.slice(DASHBOARD_PATH.length));
  let file = path.join(root, ...segments);
  // Defence in depth: whatever the segments were, the file must lie inside the assets folder.
  if (file !== root && !file.startsWith(root + path.sep)) throw traversal();
  let info = await statFile(file);
  // Only a hashed file answered as asked may be cached for good: the entry page answered for a page path
  // under assets/ would, kept for a year, name scripts that a later build no longer has.
  const immutable = info !== undefined && segments[0] === 'assets' && segments.length > 1;
  if (info === undefined) {
    const last = segments.at(-1) ?? '';
    // A missing script or image is a 404, never HTML; a page path is the app's, which routes itself.
    if (last.includes('.')) throw new HeraldError('HERALD_NOT_FOUND', `no dashboard file ${url.pathname}`);
    file = path.join(root, 'index.html');
    info = await statFile(file);
    if (info === undefined) {
      throw new HeraldError(
        'HERALD_NOT_FOUND',
        'the dashboard is not built into this installation (run `npm run build`)',
      );
    }
  }
  const extension = path.extname(file).toLowerCase();
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'content-type': CONTENT_TYPES[extension] ?? 'application/octet-stream',
    'cache-control': immutable ? IMMUTABLE : REVALIDATE,
    etag,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const body = await readFile(file);
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function traversal(): HeraldError {
  return new HeraldError('HERALD_INVALID_REQUEST', 'the path leaves the dashboard');
}

/** Percent-decodes each segment and refuses any that could name something outside the assets folder. */
function decodeSegments(rest: string): string[] {
  const segments: string[] = [];
  for (const raw of rest.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new HeraldError('HERALD_INVALID_REQUEST', 'the path is not valid percent-encoding');
    }
    if (segment === '.' || segment === '..' || /[/\\\0]/.test(segment) || path.isAbsolute(segment)) {
      throw traversal();
    }
    segments.push(segment);
  }
  return segments;
}

async function statFile(file: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const info = await stat(file);
    return info.isFile() ? info : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
    throw error;
  }
}
