// A sink that misbehaves on purpose, in its own process, for the sink-guard and bounds tests. Modes
// (set through POST /_control as JSON { mode, ... }):
//   ok        answers `status` (default 200) with `body`
//   huge      answers 500 and streams `bytes` of body (default 300 MB), at the pace the reader reads
//   trickle   answers 200 headers, then one byte of body every `everyMs` (default 2000), never ends
//   hang      never answers
//   redirect  answers 302 with Location: `location`
// OPTIONS requests answer with `handshake` headers (an object) when set, else 405.
// GET /_received lists what arrived (method, path, headers); requests to /_* are not counted.
// With HOSTILE_SINK_CERT and HOSTILE_SINK_KEY (PEM files) it serves https; HOSTILE_SINK_HOST picks the
// loopback address it listens on (default 127.0.0.1). Prints {"port": N}.
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync } from 'node:fs';

let behaviour = { mode: 'ok' };
const received = [];
const open = new Set();

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.alloc(0)));
  });
}

async function handle(req, res) {
  const body = await readBody(req);
  if (req.url === '/_control') {
    behaviour = JSON.parse(body.toString('utf8'));
    res.writeHead(204).end();
    return;
  }
  if (req.url === '/_received') {
    if (req.method === 'DELETE') received.length = 0;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ received, open: open.size }));
    return;
  }
  received.push({
    at: Date.now(),
    method: req.method,
    path: req.url,
    headers: req.headers,
    body: body.toString('utf8'),
  });
  if (req.method === 'OPTIONS') {
    if (behaviour.handshake === undefined) res.writeHead(405).end();
    else res.writeHead(200, { allow: 'POST', ...behaviour.handshake }).end();
    return;
  }
  switch (behaviour.mode) {
    case 'huge': {
      let left = behaviour.bytes ?? 300 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': String(left) });
      const pump = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (left = 0));
      pump();
      return;
    }
    case 'trickle': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('x'), behaviour.everyMs ?? 2000);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'hang':
      return;
    case 'redirect':
      res.writeHead(302, { location: behaviour.location }).end();
      return;
    default:
      res.writeHead(behaviour.status ?? 200).end(behaviour.body ?? '');
  }
}

const tls =
  process.env.HOSTILE_SINK_CERT === undefined
    ? undefined
    : { cert: readFileSync(process.env.HOSTILE_SINK_CERT), key: readFileSync(process.env.HOSTILE_SINK_KEY) };
const server = tls === undefined ? createHttp(handle) : createHttps(tls, handle);
server.on('connection', (socket) => {
  open.add(socket);
  socket.on('close', () => open.delete(socket));
});
server.listen(0, process.env.HOSTILE_SINK_HOST ?? '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => {
  for (const socket of open) socket.destroy();
  server.close(() => process.exit(0));
});
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
