// SPDX-License-Identifier: Apache-2.0
// Epoch milliseconds with sub-millisecond resolution that two processes agree on. Latency in (c) and the
// JetStream latency runs is "arrival in the sink process − intended send time in the load process".
// `performance.timeOrigin + performance.now()` is fixed at each process's start, so a process that has run
// for minutes drifts from one started a moment ago by whatever the system clock was slewed since (a full
// run once measured every delivery 24 ms late that way). Each side re-reads the system clock just
// before a measured run instead.

/**
 * Offset from `performance.now()` to the system clock, taken at an edge of `Date.now()` (the moment its
 * millisecond changes), so it is exact to a few microseconds rather than to a millisecond.
 */
function systemClockOffset(): number {
  const start = Date.now();
  let now = start;
  // At most ~1 ms of spinning: Date.now() changes every millisecond.
  while (now === start) now = Date.now();
  return now - performance.now();
}

let offset = systemClockOffset();

/** Re-reads the system clock; call before each measured run. */
export function syncEpochClock(): void {
  offset = systemClockOffset();
}

/** Epoch milliseconds (with a fraction) for a `performance.now()` reading. */
export function epochOf(performanceNow: number): number {
  return offset + performanceNow;
}

/** Epoch milliseconds now, with a fraction. */
export function epochNow(): number {
  return offset + performance.now();
}
