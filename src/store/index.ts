export type {
  AddedDeadLetter,
  AppendInput,
  AppendOutcome,
  DeadLetter,
  DeadLetterDropReason,
  DeadLetterLimits,
  DroppedDeadLetters,
  EventStore,
  LogStats,
  NewDeadLetter,
  RetentionPolicy,
  StoreNotReady,
  StoredEvent,
  SubscriptionRecord,
  TraceHeaders,
} from './types.js';
export { KeyedSerial } from './keyed-serial.js';
export { deadLetterBytes } from './dead-letter-limits.js';
export { liveLetterKey, redrivenLetterKey } from './letter-keys.js';
