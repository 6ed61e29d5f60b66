// SPDX-License-Identifier: Apache-2.0
// Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): top functions by self time, and self time per
// area (a Herald module, a dependency or a part of Node), where natives without a script (JSON.parse,
// SQLite calls, writev) count for the area of the JavaScript that called them.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** A span of CLOCK_MONOTONIC in microseconds, the clock of V8's profile timestamps. */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Now on the profile clock (CLOCK_MONOTONIC, µs), for `ProfileWindow`s taken in another process. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the profile's busy (non-idle) time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly durationMs: number;
  readonly busyMs: number;
  readonly idleShare: number;
  readonly topFunctions: readonly ProfileEntry[];
  readonly areas: readonly ProfileEntry[];
}

function where(url: string): string {
  if (url === '') return '';
  if (url.startsWith('node:')) return url;
  const marker = url.lastIndexOf('/node_modules/');
  if (marker >= 0) {
    const rest = url.slice(marker + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return `herald ${url.slice(dist + '/dist/'.length)}`;
  return path.basename(url);
}

/** The area of a script: a Herald folder (`herald ingress`), a package, or a Node module family. */
function area(url: string): string {
  const w = where(url);
  if (w.startsWith('herald ')) return `herald ${path.dirname(w.slice('herald '.length))}`;
  if (w.startsWith('node:internal/')) {
    const part = w.slice('node:internal/'.length).split('/')[0] ?? w;
    return `node internal/${part.replace(/\.js$/, '')}`;
  }
  if (w.startsWith('node:')) return `node ${w.slice(5).replace(/^_/, '').split('_')[0] ?? w}`;
  return w;
}

/**
 * Summarises a profile; with `window`, only the samples taken in it (e.g. the measured run, without
 * the broker's start-up and warm-up).
 */
export function summariseProfile(file: string, top = 15, window?: ProfileWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const hits = new Map<number, number>();
  const samples = profile.samples;
  const deltas = profile.timeDeltas;
  let from = profile.startTime;
  let to = profile.endTime;
  if (samples !== undefined && deltas !== undefined && window !== undefined) {
    from = Math.max(from, window.fromUs);
    to = Math.min(to, window.toUs);
    let at = profile.startTime;
    samples.forEach((id, i) => {
      at += deltas[i] ?? 0;
      if (at >= from && at <= to) hits.set(id, (hits.get(id) ?? 0) + 1);
    });
  } else if (samples !== undefined) {
    for (const id of samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  } else {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
  }
  let totalHits = 0;
  for (const count of hits.values()) totalHits += count;
  const durationMs = Math.max(0, to - from) / 1000;
  const msPerHit = totalHits === 0 ? 0 : durationMs / totalHits;

  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  for (const [id, count] of hits) {
    const node = byId.get(id);
    if (node === undefined || count === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += count;
      continue;
    }
    const name =
      url === ''
        ? functionName === ''
          ? '(anonymous native)'
          : functionName
        : `${functionName === '' ? '(anonymous)' : functionName} ${where(url)}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + count);
    // Natives count for the nearest caller that has a script.
    let owner: ProfileNode | undefined = node;
    while (owner !== undefined && owner.callFrame.url === '') {
      const up = parent.get(owner.id);
      owner = up === undefined ? undefined : byId.get(up);
    }
    const key =
      owner === undefined
        ? functionName.startsWith('(')
          ? functionName
          : '(native, no JS caller)'
        : area(owner.callFrame.url);
    areas.set(key, (areas.get(key) ?? 0) + count);
  }
  const busyHits = totalHits - idle;
  const entries = (map: Map<string, number>, limit: number): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, count]) => ({
        name,
        selfMs: count * msPerHit,
        share: busyHits === 0 ? 0 : count / busyHits,
      }));
  return {
    file,
    durationMs,
    busyMs: busyHits * msPerHit,
    idleShare: totalHits === 0 ? 0 : idle / totalHits,
    topFunctions: entries(functions, top),
    areas: entries(areas, top),
  };
}

export function profileMarkdown(title: string, summary: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `#### ${title}`,
    '',
    `${Math.round(summary.durationMs).toLocaleString('en-US')} ms profiled, ${pct(1 - summary.idleShare)} busy (shares below are of busy time).`,
    '',
    '| Function (self time) | ms | share |',
    '|---|--:|--:|',
    ...summary.topFunctions.map((e) => `| \`${e.name}\` | ${Math.round(e.selfMs)} | ${pct(e.share)} |`),
    '',
    '| Area (self time, natives counted for their JS caller) | ms | share |',
    '|---|--:|--:|',
    ...summary.areas.map((e) => `| ${e.name} | ${Math.round(e.selfMs)} | ${pct(e.share)} |`),
  ];
  return lines.join('\n');
}
