// SPDX-License-Identifier: Apache-2.0
// The ingress baseline: a bare node:http server that reads each request body and answers 202 with no
// body, so the ratio to it isolates what Herald adds (parsing, validation, durable append). Prints
// {"port": N} on its first stdout line; stops on SIGTERM.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  });
});
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
