// A real HTTP sink in its own process, for delivery tests. It records every request it receives and
// answers as told through POST /_control. Prints {"port": N} on its first stdout line.
import { createServer } from 'node:http';

const received = [];
let behaviour = { status: 200, failTimes: 0, failStatus: 503, retryAfter: undefined, delayMs: 0 };
let failuresLeft = 0;
let inFlight = 0;
let maxInFlight = 0;
// Requests the broker holds open: received and neither answered nor closed by the broker. Unlike
// `inFlight`, an attempt the broker gave up on (its connection closed) stops counting at once.
let open = 0;
let maxOpen = 0;
// ce-ids whose first request was already held by `delayFirstById` or `holdFirstById`.
const heldIds = new Set();
// Requests `holdFirstById` holds until POST /_release.
let releases = [];

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const server = createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === '/_control' && req.method === 'POST') {
    behaviour = { ...behaviour, ...JSON.parse(body.toString('utf8')) };
    failuresLeft = behaviour.failTimes ?? 0;
    res.writeHead(204).end();
    return;
  }
  if (req.url === '/_release' && req.method === 'POST') {
    const waiting = releases;
    releases = [];
    for (const release of waiting) release();
    res.writeHead(204).end();
    return;
  }
  if (req.url === '/_received') {
    if (req.method === 'DELETE') {
      received.length = 0;
      maxInFlight = 0;
      maxOpen = 0;
      heldIds.clear();
      res.writeHead(204).end();
      return;
    }
    const text = JSON.stringify({ received, maxInFlight, inFlight, maxOpen });
    res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    return;
  }
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  open++;
  maxOpen = Math.max(maxOpen, open);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    open--;
  };
  res.once('close', close);
  // The broker's FIN ends an attempt it gave up as surely as the close, and is seen first: a socket's
  // 'close' waits for the event loop's close phase, so a new attempt read in the same poll as the old
  // one's FIN would otherwise count as open beside it.
  req.socket.once('end', close);
  const record = {
    at: Date.now(),
    method: req.method,
    path: req.url,
    headers: req.headers,
    // Which connection carried the request: shows whether the broker reuses connections.
    connection: `${req.socket.remotePort}`,
    body: body.toString('base64'),
  };
  // A broker that dies while the sink takes its time never learns the answer: such a request is recorded
  // as `unanswered`, so a test can tell a delivery the broker saw succeed from one it must repeat.
  // The broker's end of the connection closing (FIN or reset) before the answer marks it.
  let gone = false;
  const markGone = () => {
    if (!res.writableFinished) gone = true;
  };
  req.socket.once('end', markGone);
  req.socket.once('close', markGone);
  res.once('close', markGone);
  const id = req.headers['ce-id'];
  const holdFirst = behaviour.delayFirstById?.[id];
  let delay = behaviour.delayByKey?.[req.headers['ce-partitionkey']] ?? behaviour.delayMs ?? 0;
  if (holdFirst !== undefined && !heldIds.has(id)) {
    heldIds.add(id);
    delay = holdFirst;
  }
  if (behaviour.holdFirstById?.includes(id) && !heldIds.has(id)) {
    heldIds.add(id);
    await new Promise((r) => releases.push(r));
  } else if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  inFlight--;
  req.socket.off('end', markGone);
  req.socket.off('end', close);
  req.socket.off('close', markGone);
  record.unanswered = gone;
  if (failuresLeft > 0) {
    failuresLeft--;
    record.status = behaviour.failStatus;
    received.push(record);
    const headers = behaviour.retryAfter === undefined ? {} : { 'retry-after': String(behaviour.retryAfter) };
    res.writeHead(behaviour.failStatus, headers).end('failing on purpose');
    return;
  }
  record.status = behaviour.status;
  received.push(record);
  res.writeHead(behaviour.status).end();
});

server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
// A test runner that dies without stopping its sinks must not leave them behind.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
