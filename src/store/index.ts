export type {
  AppendInput,
  AppendOutcome,
  DeadLetter,
  EventStore,
  LogStats,
  NewDeadLetter,
  RetentionPolicy,
  StoreNotReady,
  StoredEvent,
  SubscriptionRecord,
  TraceHeaders,
} from './types.js';
