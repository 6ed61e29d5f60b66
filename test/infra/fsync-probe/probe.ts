import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Builds (or finds cached) the fsync probe library and returns its path (see fsync-probe.c). */
export function fsyncProbeLibrary(): string {
  return execFileSync('bash', [path.join(here, 'build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** One completed fsync(2)/fdatasync(2) as the probe logged it. */
export interface SyncRecord {
  readonly call: 'fsync' | 'fdatasync';
  readonly rc: number;
  /** The file's size when the sync returned; -1 for anything but a regular file. */
  readonly size: number;
  readonly file: string;
}

/** The probe's log so far: every sync call the process completed, in completion order. */
export function readSyncLog(logFile: string): SyncRecord[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [call, rc, size, ...file] = line.split(' ');
      return { call: call as SyncRecord['call'], rc: Number(rc), size: Number(size), file: file.join(' ') };
    });
}

/** The environment that loads the probe into a child process and names its log. */
export function fsyncProbeEnv(logFile: string): Record<string, string> {
  return { LD_PRELOAD: fsyncProbeLibrary(), HERALD_FSYNC_LOG: logFile };
}
