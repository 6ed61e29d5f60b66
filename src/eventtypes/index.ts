export { EventTypeRegistry } from './registry.js';
export type { EventTypeRegistryOptions } from './registry.js';
export { FileEventTypeBackend, readDeclaredEventTypes } from './file-backend.js';
export { registerEventTypeApi } from './api.js';
export { SchemaValidators } from './schema-validator.js';
export { declaredEventTypeSchema, typeKey } from './types.js';
export type {
  BackendReceiver,
  DeclaredEventType,
  EventTypeBackend,
  EventTypeView,
  SeenEventType,
} from './types.js';
