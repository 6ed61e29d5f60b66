// SPDX-License-Identifier: Apache-2.0
// The kernel's pressure stall information (Linux PSI, /proc/pressure/{io,cpu}) over a measured window: how long
// tasks on the machine waited for IO or for a core. A latency stall with an IO stall beside it points at the disk
// (or the host under it); one without points at the processes sharing the cores. Sampled every 100 ms, so one
// long stall shows as one long sample instead of being averaged away.
import { readFileSync } from 'node:fs';

const RESOURCES = ['io', 'cpu'] as const;
type Resource = (typeof RESOURCES)[number];

const SAMPLE_MS = 100;

/** Stall time of one resource over a window, in ms: "some" task stalled (PSI's `some` line). */
export interface ResourceStall {
  readonly totalMs: number;
  /** The most stall time in any one 100 ms sample. */
  readonly longestSampleMs: number;
  /** Seconds into the window of the end of that sample. */
  readonly longestAtSec: number;
}

export type PressureSummary = { readonly [R in Resource]: ResourceStall } | undefined;

/** The `some` line's total (µs), or undefined where the kernel has no PSI. */
function stallMicros(resource: Resource): number | undefined {
  try {
    const line = readFileSync(`/proc/pressure/${resource}`, 'utf8').split('\n')[0] ?? '';
    const total = /total=(\d+)/.exec(line)?.[1];
    return total === undefined ? undefined : Number(total);
  } catch {
    return undefined;
  }
}

export interface PressureWatch {
  /** Stops sampling; undefined where the kernel has no PSI (not Linux, or PSI off). */
  stop(): PressureSummary;
}

/** Starts sampling the machine's IO and CPU stalls until `stop`. */
export function watchPressure(): PressureWatch {
  const first = RESOURCES.map(stallMicros);
  if (first.some((x) => x === undefined)) return { stop: () => undefined };
  const started = performance.now();
  const last = [...(first as number[])];
  const longest = RESOURCES.map(() => ({ micros: 0, at: 0 }));
  const sample = (): void => {
    RESOURCES.forEach((resource, i) => {
      const now = stallMicros(resource) ?? (last[i] as number);
      const delta = now - (last[i] as number);
      const record = longest[i] as { micros: number; at: number };
      if (delta > record.micros) {
        record.micros = delta;
        record.at = (performance.now() - started) / 1000;
      }
      last[i] = now;
    });
  };
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const stall = (i: number): ResourceStall => ({
        totalMs: ((last[i] as number) - (first[i] as number)) / 1000,
        longestSampleMs: (longest[i] as { micros: number }).micros / 1000,
        longestAtSec: (longest[i] as { at: number }).at,
      });
      return { io: stall(0), cpu: stall(1) };
    },
  };
}

/** `IO stall 12 ms (longest 10 ms at 3.1 s), CPU stall …` for a row's detail; '' without PSI. */
export function formatPressure(summary: PressureSummary): string {
  if (summary === undefined) return '';
  const one = (name: string, s: ResourceStall): string =>
    `${name} stall ${Math.round(s.totalMs)} ms (longest ${Math.round(s.longestSampleMs)} ms per 100 ms, at ${s.longestAtSec.toFixed(1)} s)`;
  return `${one('IO', summary.io)}, ${one('CPU', summary.cpu)}`;
}
