// SPDX-License-Identifier: Apache-2.0
// A sink for the soak test, in its own process, behaving as told by its first argument:
//   counting  answers 200 and remembers every ce-id it received (GET /_ids lists them)
//   slow      answers 200 after 2 s
//   trickle   sends headers, then one byte a second for 30 s
//   huge      answers 500 with a large body (the second argument, in MB; default 20)
//   reset     destroys the connection without answering
//   redirect  answers 307 to a closed port (the broker must not follow it)
// Prints {"port": N} on its first stdout line; stops on SIGTERM or when its parent is gone.
import { createServer } from 'node:http';
import { serveOnLoopback } from '../lib/serve.js';

const mode = process.argv[2] ?? 'counting';
const hugeMegabytes = Number(process.argv[3] ?? '20');
const ids = new Set<string>();
let requests = 0;
const chunk = Buffer.alloc(1024 * 1024, 0x61);

const server = createServer((req, res) => {
  if (req.url === '/_ids') {
    const body = JSON.stringify({ requests, ids: [...ids] });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  requests++;
  req.resume();
  req.on('end', () => {
    const id = req.headers['ce-id'];
    switch (mode) {
      case 'counting':
        if (typeof id === 'string' && req.url === '/all') ids.add(id);
        res.writeHead(200).end();
        return;
      case 'slow':
        setTimeout(() => res.writeHead(200).end(), 2000);
        return;
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || ++sent >= 30) {
            clearInterval(timer);
            res.end();
            return;
          }
          res.write('x');
        }, 1000);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'huge': {
        res.writeHead(500, { 'content-type': 'text/plain', 'content-length': hugeMegabytes * chunk.length });
        let left = hugeMegabytes;
        const pump = (): void => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      default:
        res.writeHead(307, { location: 'http://127.0.0.1:9/elsewhere' }).end();
    }
  });
});

serveOnLoopback(server);
// Exit with the soak driver, even if it is killed without stopping its children.
setInterval(() => {
  if (process.ppid === 1) process.exit(0);
}, 1000).unref();
