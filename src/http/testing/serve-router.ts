// Tests that exercise one capability's routes over real HTTP without a whole broker.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Router } from '../router.js';
import { sendProblem } from '../respond.js';

/**
 * A real HTTP server on a free loopback port that answers with `router`, failures as the broker's
 * problem answers (its request context, limits and authorization are left out).
 */
export function serveRouter(router: Router): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://broker');
    void (async () => {
      try {
        const { handler, params } = router.resolve(req.method ?? 'GET', url.pathname);
        await handler(req, res, params, url);
      } catch (error) {
        sendProblem(res, error);
      }
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
