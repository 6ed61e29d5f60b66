import { sendJson } from '../http/index.js';
import type { Router } from '../http/index.js';
import type { EventTypeRegistry } from './registry.js';

/** `GET /eventtypes` (architecture §11). */
export function registerEventTypeApi(router: Router, registry: EventTypeRegistry | undefined): void {
  router.on('GET', '/eventtypes', (_req, res) => sendJson(res, 200, { eventTypes: registry?.list() ?? [] }));
}
