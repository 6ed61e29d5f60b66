// SPDX-License-Identifier: Apache-2.0
// The durable floor of (a): the least a node:http server can do and still answer 202 only once an event
// is on disk. It reads each body, parses it as JSON (the structured event, or a binary-mode event's
// data), and writes the bodies that arrived in one event-loop turn with one `writev` and one `fdatasync`
// before answering them all: group commit with no dedupe, no index, no validation, no checksums and no
// recovery. It writes into space that was zero-filled and synced at start, going round a ring, as
// Herald's segment log writes into spare segments: an `fdatasync` after an append that grows the file
// also commits the file's new size to the journal, two to three times the cost on this machine
// (bench/PROFILE.md, twenty-fourth round). No broker can be cheaper per request on the same machine and
// disk, so its ratio to the bare server says how much of (a)'s target `--durability fsync` leaves reachable.
import { fdatasyncSync, fsyncSync, openSync, writeSync, writevSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { answer, onBody } from './floor-http.js';

/** Bytes of the ring the floor writes round (zero-filled and synced before it serves). */
export const FLOOR_RING_BYTES = 64 * 1024 * 1024;

/** A server writing every JSON body it accepts to `file` (made anew), synced before its 202. */
export function createDurableFloor(file: string, ringBytes = FLOOR_RING_BYTES): Server {
  const fd = openSync(file, 'w+');
  const zeros = Buffer.alloc(Math.min(ringBytes, 1024 * 1024));
  for (let at = 0; at < ringBytes; at += zeros.length)
    writeSync(fd, zeros, 0, Math.min(zeros.length, ringBytes - at), at);
  fsyncSync(fd);
  let position = 0;
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
    let size = 0;
    for (const body of written) size += body.length;
    if (position + size > ringBytes) position = 0;
    writevSync(fd, written, position);
    position += size;
    fdatasyncSync(fd);
    for (const res of group) answer(res, 202);
  };

  return createServer((req, res) => {
    onBody(req, (body) => {
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
