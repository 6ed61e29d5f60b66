// SPDX-License-Identifier: Apache-2.0
// The ingress baseline: a bare node:http server that reads each request body and answers 202 with no
// body, so the ratio to it isolates what Herald adds (parsing, validation, durable append). Prints
// {"port": N} on its first stdout line; stops on SIGTERM.
import { createServer } from 'node:http';
import { serveOnLoopback } from './serve.js';

const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  });
});
serveOnLoopback(server);
