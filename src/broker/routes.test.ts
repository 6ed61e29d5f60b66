// Every route the broker serves has an entry in the authorization route table and an operation in
// /openapi.json, and neither lists a route that does not exist: a new route cannot slip past either.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_TABLE } from '../auth/index.js';
import { loadBrokerConfig } from '../config/index.js';
import { createLogger } from '../observability/index.js';
import { Broker } from './broker.js';
import { openApiDocument } from './openapi.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-routes-'));
let broker: Broker;
beforeAll(async () => {
  const config = loadBrokerConfig([
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--admin-port',
    '0',
    '--data-dir',
    dir,
  ]);
  broker = await Broker.start({ config, logger: createLogger('silent', {}) });
});
afterAll(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

const openApiRoutes = () =>
  Object.entries(openApiDocument.paths).flatMap(([pathName, operations]) =>
    Object.keys(operations).map(
      // The dashboard's file tree is documented at its entry, /ui/.
      (method) =>
        `${method.toUpperCase()} ${pathName === '/ui/' ? '/ui/*' : pathName.replace(/\{(\w+)\}/g, ':$1')}`,
    ),
  );

describe('route table', () => {
  it('authorizes every served route, and lists no other', () => {
    expect([...broker.routes].sort()).toEqual(Object.keys(ROUTE_TABLE).sort());
  });

  it('documents every served route in /openapi.json, and no other', () => {
    expect([...broker.routes].sort()).toEqual(openApiRoutes().sort());
  });

  it('declares the id parameter of every /subscriptions/{id} operation and a body for every write', () => {
    for (const [pathName, operations] of Object.entries(openApiDocument.paths)) {
      for (const [method, operation] of Object.entries(
        operations as Record<string, Record<string, unknown>>,
      )) {
        const parameters = (operation['parameters'] ?? []) as { name: string; in: string }[];
        if (pathName.includes('{id}')) {
          expect(parameters, `${method} ${pathName}`).toContainEqual(
            expect.objectContaining({ name: 'id', in: 'path' }),
          );
        }
        const takesBody = ['POST', 'PUT'].includes(method.toUpperCase()) && !/pause|resume/.test(pathName);
        if (takesBody) expect(operation['requestBody'], `${method} ${pathName}`).toBeDefined();
        const responses = Object.keys(operation['responses'] as object);
        expect(responses, `${method} ${pathName}`).toContain('503');
        // Every route can time out receiving its request (--headers-timeout, --request-timeout).
        expect(responses, `${method} ${pathName}`).toContain('408');
      }
    }
  });

  it('documents the answers of the bounds docs/limits.md promises on the read routes', () => {
    const paths = openApiDocument.paths as unknown as Record<string, Record<string, { responses: object }>>;
    expect(Object.keys(paths['/events/stream']?.['get']?.responses ?? {})).toContain('429');
    const publish = JSON.stringify(paths['/events']?.['post']?.responses ?? {});
    expect(publish).toContain('HERALD_TOO_MANY_EVENTS');
    expect(JSON.stringify(paths['/events']?.['get']?.responses ?? {})).toContain('HERALD_LOG_READ_CAPACITY');
  });
});

/** Sends `target` exactly as written (fetch would normalise it first) and answers the status. */
function statusOf(port: number, method: string, target: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: target, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('request targets', () => {
  const event = { 'ce-specversion': '1.0', 'ce-source': '/routes', 'ce-type': 'routes.test' };

  it('routes a target by its parsed pathname, whether or not it is a plain path', async () => {
    const publish = (target: string, id: string) =>
      statusOf(broker.port, 'POST', target, { ...event, 'ce-id': id, 'content-length': '0' });
    expect(await publish('/events', 'plain')).toBe(202);
    expect(await publish('/events/', 'trailing-slash')).toBe(202);
    expect(await publish('/events?source=x', 'query')).toBe(202);
    expect(await publish('/./events', 'dot-segment')).toBe(202);
    expect(await publish('/x/../events', 'dot-dot-segment')).toBe(202);
    expect(await publish('/%65vents', 'escaped')).toBe(404);
    expect(await publish('/events/x', 'longer')).toBe(404);
  });

  it('gives handlers that read the URL its query', async () => {
    const admin = broker.adminPort;
    expect(await statusOf(admin, 'GET', '/events?limit=1')).toBe(200);
    expect(await statusOf(admin, 'GET', '/events?limit=abc')).toBe(400);
    expect(await statusOf(admin, 'GET', '/./events?limit=abc')).toBe(400);
  });
});
