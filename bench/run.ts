// SPDX-License-Identifier: Apache-2.0
// Herald's performance benchmark: `npm run bench` (full, ≤ ~10 minutes) or `npm run bench -- --quick`
// (≤ ~1 minute). Starts every process it measures (broker, baselines, sink, nats-server) on 127.0.0.1,
// writes the results as JSON to bench/results/ and prints a markdown table with each scenario's ratio
// to its baseline or target. Options:
//   --quick            short runs and smaller data sets
//   --only a,b,cesql   run only these scenarios (a b c d e e-latency f cesql render g data h)
//   --profile          run the (a), (b), (c) and (e) throughput brokers under `node --cpu-prof` and
//                      summarise the profiles (slower: profiling costs the broker some CPU)
//   --no-pin           do not pin the server to core 1 and the load side to core 0 with taskset
//   --peer dapr        Herald beside Dapr 1.16 on the same nats-server (bench/scenarios/dapr.ts; builds
//                      daprd once with test/infra/dapr/build.sh); alone, unless --only names others too
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchContext, Mode, Scenario } from './lib/context.js';
import { ROOT, brokerNodeFlags, pinSelf, stopAll, tasksetAvailable } from './lib/processes.js';
import { profileMarkdown } from './lib/profile.js';
import type { ProfileSummary } from './lib/profile.js';
import type { JudgedRow, Row } from './lib/report.js';
import { judge, markdownTable } from './lib/report.js';
import { cesqlScenario } from './scenarios/cesql.js';
import { daprPeer } from './scenarios/dapr.js';
import { dataFiltersScenario } from './scenarios/data-filters.js';
import { endToEnd } from './scenarios/e2e.js';
import { fanOut } from './scenarios/fanout.js';
import { footprint } from './scenarios/footprint.js';
import { ingressBatch, ingressSingle } from './scenarios/ingress.js';
import { jetStream } from './scenarios/jetstream.js';
import { jetStreamLatency } from './scenarios/jetstream-latency.js';
import { kafkaScenario } from './scenarios/kafka.js';
import { renderScenario } from './scenarios/render.js';
import { replay } from './scenarios/replay.js';

const SCENARIOS: readonly Scenario[] = [
  ingressSingle,
  ingressBatch,
  endToEnd,
  fanOut,
  jetStream,
  jetStreamLatency,
  replay,
  cesqlScenario,
  renderScenario,
  kafkaScenario,
  dataFiltersScenario,
  footprint,
];

/** Other brokers measured beside Herald in the same run, by `--peer NAME`. */
const PEERS: Readonly<Record<string, Scenario>> = { dapr: daprPeer };

interface Options {
  readonly mode: Mode;
  readonly only: ReadonlySet<string> | undefined;
  readonly profile: boolean;
  readonly pin: boolean;
  readonly peers: readonly Scenario[];
}

function parseArgs(argv: readonly string[]): Options {
  let mode: Mode = 'full';
  let only: Set<string> | undefined;
  let profile = false;
  let pin = true;
  const peers: Scenario[] = [];
  const peer = (name: string | undefined): void => {
    const scenario = PEERS[name ?? ''];
    if (scenario === undefined)
      throw new Error(`unknown peer '${name ?? ''}' (known: ${Object.keys(PEERS).join(', ')})`);
    peers.push(scenario);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--full') mode = 'full';
    else if (arg === '--profile') profile = true;
    else if (arg === '--no-pin') pin = false;
    else if (arg === '--only') only = new Set((argv[++i] ?? '').split(',').filter(Boolean));
    else if (arg?.startsWith('--only=') === true) only = new Set(arg.slice(7).split(',').filter(Boolean));
    else if (arg === '--peer') peer(argv[++i]);
    else if (arg?.startsWith('--peer=') === true) peer(arg.slice(7));
    else
      throw new Error(
        `unknown option ${arg ?? ''} (use --quick, --full, --only a,b,…, --profile, --no-pin, --peer dapr)`,
      );
  }
  if (only !== undefined) {
    for (const id of only) {
      if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario '${id}'`);
    }
  }
  // A peer comparison runs alone unless --only asks for Herald's own scenarios as well.
  if (peers.length > 0 && only === undefined) only = new Set();
  return { mode, only, profile, pin, peers };
}

function git(args: readonly string[]): string {
  const result = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'unknown';
}

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly loadAverageBefore: readonly number[];
  readonly loadAverageAfter: readonly number[];
  readonly pinned: boolean;
  /** HEAD, and how many paths differ from it (the working tree is what was measured). */
  readonly commit: string;
  readonly uncommittedPaths: number;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

function fixed(values: readonly number[]): number[] {
  return values.map((v) => Math.round(v * 100) / 100);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const pin = options.pin && cpus().length >= 2 && tasksetAvailable() && pinSelf();
  const loadBefore = fixed(loadavg());
  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const profileDir = options.profile ? path.join(resultsDir, `profiles-${stamp}`) : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const context: BenchContext = {
    mode: options.mode,
    placement: { pin },
    profileDir,
    log: (line) => process.stderr.write(`${line}\n`),
    warmupSec: options.mode === 'quick' ? 1 : 3,
    measureSec: options.mode === 'quick' ? 2 : 10,
  };
  context.log(
    `herald bench: ${options.mode} mode, ${pin ? 'broker pinned to core 1, load generator and sink to core 0' : 'not pinned'}`,
  );

  const rows: JudgedRow[] = [];
  const notes: string[] = [];
  const profiles: Array<{ title: string; summary: ProfileSummary }> = [];
  const sections: string[] = [];
  let failed = false;
  for (const scenario of [...SCENARIOS, ...options.peers]) {
    if (!options.peers.includes(scenario) && options.only !== undefined && !options.only.has(scenario.id))
      continue;
    context.log(`(${scenario.id}) ${scenario.title}`);
    const t0 = performance.now();
    try {
      const out = await scenario.run(context);
      rows.push(...out.rows.map((row: Row) => judge(row)));
      notes.push(...out.notes.map((note) => `(${scenario.id}) ${note}`));
      profiles.push(...out.profiles);
      sections.push(...out.sections);
    } catch (error) {
      failed = true;
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      context.log(`(${scenario.id}) failed: ${(error as Error).stack ?? message}`);
      rows.push(
        judge({ scenario: scenario.id, name: scenario.title, value: null, unit: '', detail: message }),
      );
    } finally {
      await stopAll();
    }
    context.log(`(${scenario.id}) took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  const machine: MachineInfo = {
    nproc: cpus().length,
    cpuModel: cpuModel(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageBefore: loadBefore,
    loadAverageAfter: fixed(loadavg()),
    pinned: pin,
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedPaths: git(['status', '--porcelain']).split('\n').filter(Boolean).length,
  };
  const wallSec = (performance.now() - started) / 1000;
  const file = path.join(resultsDir, `${stamp}-${options.mode}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), mode: options.mode, wallSec, machine, rows, notes, sections, profiles }, null, 2)}\n`,
  );

  const out: string[] = [
    `## Herald benchmark (${options.mode} mode, ${new Date().toISOString().slice(0, 10)})`,
    '',
    `${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}, ${machine.platform}; ` +
      `${pin ? 'broker/servers pinned to core 1, load generator and sink to core 0 (taskset)' : 'no CPU pinning'}; ` +
      `broker Node.js options: ${brokerNodeFlags({ pin }).join(' ') || 'none'}; ` +
      `load average ${machine.loadAverageBefore.join(' ')} before, ${machine.loadAverageAfter.join(' ')} after; ` +
      `${wallSec.toFixed(0)} s wall time; commit ${machine.commit}${machine.uncommittedPaths > 0 ? ` plus ${machine.uncommittedPaths} uncommitted paths` : ''}.`,
    '',
    markdownTable(rows),
  ];
  if (notes.length > 0) out.push('', ...notes.map((note) => `- ${note}`));
  for (const section of sections) out.push('', section);
  for (const { title, summary } of profiles) out.push('', profileMarkdown(title, summary));
  out.push('', `Results: ${path.relative(ROOT, file)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return failed ? 1 : 0;
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`herald bench: ${signal}, stopping child processes\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.stderr.write(`herald bench: ${(error as Error).stack ?? String(error)}\n`);
    await stopAll();
    process.exitCode = 1;
  },
);
