// SPDX-License-Identifier: Apache-2.0
import type { Placement } from './processes.js';
import type { ProfileSummary } from './profile.js';
import type { Row } from './report.js';

export type Mode = 'quick' | 'full';

/** What every scenario gets from run.ts. */
export interface BenchContext {
  readonly mode: Mode;
  readonly placement: Placement;
  /** Set with --profile: where broker CPU profiles of (a) and (b) go. */
  readonly profileDir: string | undefined;
  readonly log: (line: string) => void;
  /** Seconds of warm-up and of measurement for closed-loop throughput runs. */
  readonly warmupSec: number;
  readonly measureSec: number;
}

export interface ScenarioOutput {
  readonly rows: Row[];
  readonly notes: string[];
  readonly profiles: Array<{ readonly title: string; readonly summary: ProfileSummary }>;
  /** Markdown blocks printed after the results table (e.g. the --peer comparison). */
  readonly sections: string[];
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(context: BenchContext): Promise<ScenarioOutput>;
}

export function output(): ScenarioOutput {
  return { rows: [], notes: [], profiles: [], sections: [] };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rounds in a full run: each contender's measured time is split into this many alternating turns. */
const ALTERNATING_ROUNDS = 4;

/**
 * How a scenario that compares two contenders splits its measured time: alternating rounds (A B, B A, …)
 * in a full run, one round each in a quick one. A shared virtual machine drifts by ±30% within minutes;
 * measured one after the other, a baseline and the broker can land in different phases of that drift,
 * while alternating rounds share them.
 */
export function alternatingRounds(context: BenchContext): { rounds: number; seconds: number } {
  const rounds = context.measureSec >= 2 * ALTERNATING_ROUNDS ? ALTERNATING_ROUNDS : 1;
  return { rounds, seconds: Math.max(1, Math.round(context.measureSec / rounds)) };
}
