// SPDX-License-Identifier: Apache-2.0
// How the machine's cores were shared over a measured window: the broker's event-loop thread and the rest of its
// threads, the load generator (the bench process with its in-process sinks, and wrk), and other servers (a sink process,
// nats-server). On two cores shared by all of them (an unpinned run), a broker whose event-loop thread stays below
// one core while the whole machine is near two is held back by the others, not by its own work; one whose
// event-loop thread is near one core is bounded by that thread, however many cores are free.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { clockTicks, statCpu } from './processes.js';

/** User plus system CPU time of one thread of `pid` (its main thread when `tid` is `pid`), in ms; NaN when unreadable. */
export function threadCpuMs(pid: number, tid: number): number {
  const { user, system } = statCpu(`/proc/${pid}/task/${tid}/stat`);
  return user + system;
}

/** The machine's idle and stolen time so far (ms, all cores), from the first line of /proc/stat; NaN when unreadable. */
function machineTimes(): { idle: number; steal: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
    // cpu user nice system idle iowait irq softirq steal …
    const ms = (i: number): number => (Number(fields[i]) * 1000) / clockTicks();
    return { idle: ms(4) + ms(5), steal: ms(8) };
  } catch {
    return { idle: Number.NaN, steal: Number.NaN };
  }
}

/** CPU time of load generators run as child processes (wrk), added as each run ends; see `addLoadGeneratorCpuMs`. */
let childLoadGeneratorMs = 0;

/**
 * Counts `ms` of CPU time of a load generator that ran as a child process into the load generator's share
 * (a child's CPU is not in `process.cpuUsage()`). Called when the child's run ends, before the watch stops.
 */
export function addLoadGeneratorCpuMs(ms: number): void {
  childLoadGeneratorMs += ms;
}

/** A process whose CPU is counted: `cpuMs` reads its total so far. */
export interface Counted {
  readonly name: string;
  cpuMs(): number;
}

export interface CpuShareOptions {
  /** The broker (absent for a run without one): its event-loop thread is counted apart from its other threads. */
  readonly broker?: { readonly pid: number; cpuMs(): number };
  /** Other processes on the machine (a sink process, nats-server). */
  readonly others?: readonly Counted[];
}

/** Cores used over the window (CPU time / wall time) by each part. */
export interface CpuShare {
  /** Absent without a broker. */
  readonly brokerEventLoop?: number;
  readonly brokerOtherThreads?: number;
  readonly loadGenerator: number;
  readonly others: Readonly<Record<string, number>>;
  /** Cores idle (or waiting for IO), and cores the hypervisor ran something else on (steal time). */
  readonly idle: number;
  readonly stolen: number;
  readonly machineCores: number;
}

export interface CpuShareWatch {
  stop(): CpuShare;
}

/** Starts counting; `stop` gives the cores each part used since. */
export function watchCpuShare(options: CpuShareOptions): CpuShareWatch {
  const broker = options.broker;
  const others = options.others ?? [];
  const started = performance.now();
  const loop0 = broker === undefined ? 0 : threadCpuMs(broker.pid, broker.pid);
  const broker0 = broker === undefined ? 0 : broker.cpuMs();
  const self0 = process.cpuUsage();
  const children0 = childLoadGeneratorMs;
  const others0 = others.map((o) => o.cpuMs());
  const machine0 = machineTimes();
  return {
    stop() {
      const wallMs = performance.now() - started;
      const self = process.cpuUsage(self0);
      const machine = machineTimes();
      const loop = broker === undefined ? 0 : threadCpuMs(broker.pid, broker.pid) - loop0;
      const all = broker === undefined ? 0 : broker.cpuMs() - broker0;
      return {
        ...(broker === undefined
          ? {}
          : { brokerEventLoop: loop / wallMs, brokerOtherThreads: (all - loop) / wallMs }),
        loadGenerator: ((self.user + self.system) / 1000 + childLoadGeneratorMs - children0) / wallMs,
        others: Object.fromEntries(
          others.map((o, i) => [o.name, (o.cpuMs() - (others0[i] as number)) / wallMs]),
        ),
        idle: (machine.idle - machine0.idle) / wallMs,
        stolen: (machine.steal - machine0.steal) / wallMs,
        machineCores: cpus().length,
      };
    },
  };
}

/** The rounds' shares, weighted by their durations (in seconds). */
export function meanCpuShare(rounds: ReadonlyArray<{ share: CpuShare; seconds: number }>): CpuShare {
  const total = rounds.reduce((sum, r) => sum + r.seconds, 0) || 1;
  const mean = (pick: (share: CpuShare) => number | undefined): number =>
    rounds.reduce((sum, r) => sum + (pick(r.share) ?? 0) * r.seconds, 0) / total;
  const names = Object.keys(rounds[0]?.share.others ?? {});
  return {
    ...(rounds[0]?.share.brokerEventLoop === undefined
      ? {}
      : {
          brokerEventLoop: mean((s) => s.brokerEventLoop),
          brokerOtherThreads: mean((s) => s.brokerOtherThreads),
        }),
    loadGenerator: mean((s) => s.loadGenerator),
    others: Object.fromEntries(names.map((name) => [name, mean((s) => s.others[name])])),
    idle: mean((s) => s.idle),
    stolen: mean((s) => s.stolen),
    machineCores: rounds[0]?.share.machineCores ?? 0,
  };
}

/** "cores used: broker event loop 0.91, its other threads 0.20, load generator 0.28, …, idle 0.55, stolen by the host 0.02 (of 2)". */
export function formatCpuShare(share: CpuShare, loadGenerator = 'load generator'): string {
  const parts = [
    ...(share.brokerEventLoop === undefined ? [] : [`broker event loop ${share.brokerEventLoop.toFixed(2)}`]),
    ...(share.brokerOtherThreads === undefined
      ? []
      : [`its other threads ${share.brokerOtherThreads.toFixed(2)}`]),
    `${loadGenerator} ${share.loadGenerator.toFixed(2)}`,
    ...Object.entries(share.others).map(([name, cores]) => `${name} ${cores.toFixed(2)}`),
    `idle ${share.idle.toFixed(2)}`,
    `stolen by the host ${share.stolen.toFixed(2)}`,
  ];
  return `cores used: ${parts.join(', ')} (of ${share.machineCores})`;
}
