// SPDX-License-Identifier: Apache-2.0
// The durable floor of (a): the least a node:http server can do and still answer 202 only once an event
// is on disk. It reads each body, parses it as JSON (the structured event, or a binary-mode event's
// data), and appends the bodies that arrived in one event-loop turn to a file with one `writev` and one
// `fdatasync` before answering them all: group commit with no dedupe, no index, no validation, no
// checksums and no recovery. No broker can be cheaper per request on the same machine and disk, so its
// ratio to the bare server says how much of (a)'s target `--durability fsync` leaves reachable.
import { fdatasyncSync, openSync, writevSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

/** A server appending every JSON body it accepts to `file` (created if missing), synced before its 202. */
export function createDurableFloor(file: string): Server {
  const fd = openSync(file, 'a');
  let bodies: Buffer[] = [];
  let waiting: ServerResponse[] = [];
  let scheduled = false;

  // Once per turn: everything parsed in it goes to disk together, then every publisher hears 202.
  const commit = (): void => {
    scheduled = false;
    const group = waiting;
    const written = bodies;
    waiting = [];
    bodies = [];
    writevSync(fd, written);
    fdatasyncSync(fd);
    for (const res of group) answer(res, 202);
  };

  return createServer((req, res) => {
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
}
