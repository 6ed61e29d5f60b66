import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeraldError } from '../errors/index.js';
import { sendJson } from '../http/index.js';
import type { EventStore } from '../store/index.js';

/** What the broker's readiness depends on, read each time it is asked. */
export interface ReadinessState {
  readonly store: EventStore;
  /** Delivery started (the subscriptions known). */
  readonly delivering: boolean;
  /** The EventPolicy resources read (or none to read). */
  readonly policiesSettled: boolean;
  /** The declared event types known (false only while the EventType resources are unread). */
  readonly declarationsRead: boolean;
  readonly stopping: boolean;
}

/** Why the broker is not ready (`/readyz`'s `cause` and `detail`), or undefined when it is. */
export function notReadyReason(state: ReadinessState): { cause: string; detail: string } | undefined {
  const { store } = state;
  if (state.stopping) return { cause: 'shutting-down', detail: 'the broker is shutting down' };
  // The store's own reason first, then the broker's.
  if (!store.isReady()) {
    return store.notReadyReason?.() ?? { cause: 'store', detail: `the ${store.kind} store is not ready` };
  }
  if (!state.policiesSettled) {
    return { cause: 'policies', detail: 'the EventPolicy resources have not been read yet (see the log)' };
  }
  if (!state.declarationsRead) {
    return { cause: 'event-types', detail: 'the EventType resources have not been read yet (see the log)' };
  }
  if (!state.delivering) {
    return { cause: 'starting', detail: 'the subscription registry is loading; delivery starts next' };
  }
  return undefined;
}

/** `GET /readyz`: 200 when ready, else a problem (`HERALD_NOT_READY`) with why and the store's state. */
export function readinessRoute(state: () => ReadinessState) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const now = state();
    const reason = notReadyReason(now);
    if (reason === undefined) {
      sendJson(res, 200, { status: 'ready', store: true });
      return;
    }
    const problem = new HeraldError('HERALD_NOT_READY', reason.detail).toProblem();
    sendJson(
      res,
      503,
      { ...problem, cause: reason.cause, store: now.store.isReady() },
      { 'content-type': 'application/problem+json' },
    );
  };
}
