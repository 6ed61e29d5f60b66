import type { SubscriptionDefinition } from './types.js';

/**
 * Where a subscription's delivery cursor is stored: its id and incarnation, so each life of an id has a
 * cursor of its own (see `SubscriptionDefinition.incarnation`). A definition stored before incarnations
 * existed has none, and its cursor stays under its id. Ids in Kubernetes are resource names (no `~`);
 * an API id ending in `~` and another subscription's incarnation, which no API answer shows, is the only
 * way two keys could meet.
 */
export function cursorKeyOf(definition: Pick<SubscriptionDefinition, 'id' | 'incarnation'>): string {
  return definition.incarnation === undefined ? definition.id : `${definition.id}~${definition.incarnation}`;
}
