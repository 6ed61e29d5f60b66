// SPDX-License-Identifier: Apache-2.0
// The HTTP side the floors (durable-floor.ts, jetstream-floor.ts) share: a whole body, and an empty answer.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Calls `handle` with the request's whole body once it has arrived. */
export function onBody(req: IncomingMessage, handle: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => handle(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
}

/** Answers `status` with an empty body. */
export function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}
