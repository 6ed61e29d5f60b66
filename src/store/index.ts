export type {
  AppendInput,
  AppendOutcome,
  DeadLetter,
  EventStore,
  LogStats,
  NewDeadLetter,
  RetentionPolicy,
  StoredEvent,
  SubscriptionRecord,
  TraceHeaders,
} from './types.js';
