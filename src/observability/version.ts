import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What `herald version` and `GET /version` report. */
export interface VersionInfo {
  /** The package version (package.json). */
  readonly version: string;
  /** The git commit the code was built from, or `unknown`. */
  readonly commit: string;
  /** The Node.js version running the process (`process.version`). */
  readonly node: string;
}

// Both src/observability (tests) and dist/observability (built) sit two levels below the package root.
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Written by `npm run build` (scripts/build-info.mjs) next to the compiled code. */
const buildInfoPath = fileURLToPath(new URL('../build-info.json', import.meta.url));

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The commit baked in at build time; else the checkout's HEAD when running from a git clone. */
function commitOf(): string {
  const baked = readJson(buildInfoPath)?.['commit'];
  if (typeof baked === 'string' && baked !== '') return baked;
  if (!existsSync(`${packageRoot}.git`)) return 'unknown';
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: packageRoot,
      encoding: 'utf8',
      timeout: 2_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

let cached: VersionInfo | undefined;

export function versionInfo(): VersionInfo {
  cached ??= {
    version: String(readJson(`${packageRoot}package.json`)?.['version'] ?? 'unknown'),
    commit: commitOf(),
    node: process.version,
  };
  return cached;
}
