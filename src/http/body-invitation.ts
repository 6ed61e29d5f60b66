import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1): the client sends its body only once the server invites it
 * with an interim `100 Continue`. Node invites every such body before any handler runs unless the
 * server listens for `checkContinue`; the broker listens, and invites a body only when a handler starts
 * reading it. A request refused first (401, 403, 404, 503, a 413 for its declared size) then costs the
 * client no upload and the broker no bytes, and its connection is closed after the answer, since the
 * client may or may not send the body it was never invited to.
 */
const uninvited = new WeakMap<IncomingMessage, ServerResponse>();

/** Marks `req` as waiting for the invitation to send its body (a `checkContinue` request). */
export function holdBodyInvitation(req: IncomingMessage, res: ServerResponse): void {
  uninvited.set(req, res);
}

/** Sends `100 Continue` if `req` is still waiting for it: a handler is about to read the body. */
export function inviteBody(req: IncomingMessage): void {
  const res = uninvited.get(req);
  if (res === undefined) return;
  uninvited.delete(req);
  if (!res.headersSent) res.writeContinue();
}

/** Whether `req` asked to be invited and never was (its body may never come). */
export function bodyUninvited(req: IncomingMessage): boolean {
  return uninvited.has(req);
}
