// SPDX-License-Identifier: Apache-2.0
import type { Server } from 'node:http';

/**
 * Runs a benchmark helper server on a free loopback port: prints {"port": N} as its first stdout line
 * (how the harness finds it) and stops on SIGTERM.
 */
export function serveOnLoopback(server: Server): void {
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
