// SPDX-License-Identifier: Apache-2.0
// The durable floor of (a): the least a node:http server can do and still answer 202 only once an event
// is on disk. It reads each body, parses it as JSON (the structured event, or a binary-mode event's
// data), and appends the bodies that arrived in one event-loop turn to a file with one `writev` and one
// `fdatasync` before answering them all: group commit with no dedupe, no index, no validation, no
// checksums and no recovery. No broker can be cheaper per request on the same machine and disk, so its
// ratio to the bare server says how much of (a)'s target `--durability fsync` leaves reachable.
// Prints {"port": N} on its first stdout line; stops on SIGTERM (removing its file).
import { fdatasyncSync, mkdtempSync, openSync, rmSync, writevSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serveOnLoopback } from './serve.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-durable-'));
const fd = openSync(path.join(dir, 'log'), 'a');
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

let bodies: Buffer[] = [];
let waiting: ServerResponse[] = [];
let scheduled = false;

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

/** Once per turn: everything parsed in it goes to disk together, then every publisher hears 202. */
function commit(): void {
  scheduled = false;
  const group = waiting;
  const written = bodies;
  waiting = [];
  bodies = [];
  writevSync(fd, written);
  fdatasyncSync(fd);
  for (const res of group) answer(res, 202);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      answer(res, 400);
      return;
    }
    bodies.push(body);
    waiting.push(res);
    if (!scheduled) {
      scheduled = true;
      setImmediate(commit);
    }
  });
});
serveOnLoopback(server);
