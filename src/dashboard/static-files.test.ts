import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from '../http/index.js';
import { serveRouter } from '../http/testing/serve-router.js';
import { registerDashboard } from './static-files.js';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A raw request: the path is sent exactly as given (fetch would normalise `..` away). */
function get(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A real HTTP server with the broker's router and problem answers, serving a folder of built assets. */
function serve(assetsDir: string): Promise<Server> {
  const router = new Router();
  registerDashboard(router, { assetsDir });
  return serveRouter(router);
}

const SECRET = 'content-outside-the-dashboard';

describe('dashboard static files', () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'herald-ui-'));
  const assets = path.join(parent, 'ui');
  let server: Server;
  let emptyServer: Server;
  let port: number;

  beforeAll(async () => {
    mkdirSync(path.join(assets, 'assets'), { recursive: true });
    writeFileSync(path.join(assets, 'index.html'), '<!doctype html><title>Herald</title>');
    writeFileSync(path.join(assets, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(path.join(assets, 'assets', 'index-abc123.css'), 'body{}');
    // A file beside the assets folder that no request may reach.
    writeFileSync(path.join(parent, 'secret.txt'), SECRET);
    server = await serve(assets);
    port = (server.address() as AddressInfo).port;
    mkdirSync(path.join(parent, 'empty'));
    emptyServer = await serve(path.join(parent, 'empty'));
  });

  afterAll(() => {
    server?.close();
    emptyServer?.close();
    rmSync(parent, { recursive: true, force: true });
  });

  it('serves the entry page, revalidated, with a content security policy', async () => {
    const answer = await get(port, '/ui/');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-cache');
    expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.body).toContain('<title>Herald</title>');
  });

  it('serves hashed assets with their content type, cached for good', async () => {
    const script = await get(port, '/ui/assets/index-abc123.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.body).toBe('console.log(1)');
    const style = await get(port, '/ui/assets/index-abc123.css');
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers 304 to a matching ETag and no body to HEAD', async () => {
    const first = await get(port, '/ui/assets/index-abc123.js');
    const again = await get(port, '/ui/assets/index-abc123.js', {
      'if-none-match': String(first.headers.etag),
    });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const head = await get(port, '/ui/', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('<!doctype html><title>Herald</title>'.length));
    expect(head.body).toBe('');
  });

  it('answers the app for page paths (the browser routes them) and 404 for missing files', async () => {
    for (const page of ['/ui/subscriptions', '/ui/subscriptions/abc/deadletters', '/ui/tail']) {
      const answer = await get(port, page);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.body).toContain('<title>Herald</title>');
    }
    const missing = await get(port, '/ui/assets/gone-123.js');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'HERALD_NOT_FOUND' });
  });

  it('answers a page path under assets/ with the entry page revalidated, never cached for good', async () => {
    // Only a hashed file may be kept for a year: the entry page kept at this address would, after an
    // upgrade, name scripts the new build no longer has.
    const answer = await get(port, '/ui/assets/subscriptions');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-cache');
    const script = await get(port, '/ui/assets/index-abc123.js');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('sends its security headers on every answer under /ui/, refusals and redirects included', async () => {
    // The refusals first: a problem answer is what a hostile link makes the browser load.
    for (const raw of [
      '/ui/assets/gone-123.js',
      '/ui/..%2fx',
      '/ui',
      '/ui/',
      '/ui/tail',
      '/ui/assets/index-abc123.js',
    ]) {
      const answer = await get(port, raw);
      expect(answer.headers['x-content-type-options'], raw).toBe('nosniff');
      expect(answer.headers['referrer-policy'], raw).toBe('no-referrer');
      expect(String(answer.headers['content-security-policy']), raw).toContain("frame-ancestors 'none'");
      expect(String(answer.headers['content-security-policy']), raw).toContain("default-src 'self'");
    }
  });

  it('redirects /ui to /ui/ so relative URLs resolve', async () => {
    const answer = await get(port, '/ui?x=1');
    expect(answer.status).toBe(308);
    expect(answer.headers.location).toBe('/ui/?x=1');
  });

  it('refuses every path that leaves the assets folder', async () => {
    for (const raw of [
      '/ui/..%2fsecret.txt',
      '/ui/assets/..%2F..%2Fsecret.txt',
      '/ui/%2e%2e%5csecret.txt',
      '/ui/assets%2f..%2f..%2fsecret.txt',
      '/ui/%00.js',
      '/ui/%E0%A4%A',
    ]) {
      const answer = await get(port, raw);
      expect(answer.status, raw).toBe(400);
      expect(answer.body, raw).not.toContain(SECRET);
      expect(JSON.parse(answer.body), raw).toMatchObject({ code: 'HERALD_INVALID_REQUEST' });
    }
    // Plain dot segments are resolved by URL parsing before routing, so they never reach the folder.
    const dotted = await get(port, '/ui/../secret.txt');
    expect(dotted.status).toBe(404);
    expect(dotted.body).not.toContain(SECRET);
  });

  it('says so when the dashboard was not built', async () => {
    const answer = await get((emptyServer.address() as AddressInfo).port, '/ui/');
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'HERALD_NOT_FOUND' });
    expect(JSON.parse(answer.body).detail).toContain('npm run build');
  });
});
