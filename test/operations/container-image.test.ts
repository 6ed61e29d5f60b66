// The container image's build stage, without a container engine: the files the Dockerfile's build stage
// COPYs (and only those) in a scratch directory, the repository's installed node_modules beside them (the
// image runs `npm ci` from the same lock file), then the stage's `npm run build`. It must leave the broker,
// the operator and the dashboard in dist/ as the runtime stage copies it: a build that needs a file the
// Dockerfile does not copy (the dashboard's ui/ once) fails here instead of in `docker build`.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** The sources of the build stage's COPY instructions (up to the second FROM), without `--from` copies. */
function buildStageCopies(dockerfile: string): string[] {
  const stages = dockerfile.split(/^FROM\s/m).slice(1);
  const build = stages[0] ?? '';
  const sources: string[] = [];
  for (const line of build.split('\n')) {
    const match = /^COPY\s+(?!--from)(.+)$/.exec(line.trim());
    if (match === null) continue;
    const parts = (match[1] as string).split(/\s+/);
    sources.push(...parts.slice(0, -1));
  }
  return sources;
}

describe('the container image build stage', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'herald-image-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds the broker and the dashboard from exactly what the Dockerfile copies', async () => {
    const sources = buildStageCopies(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    expect(sources).toContain('src');
    for (const source of sources) {
      cpSync(path.join(ROOT, source), path.join(work, source), { recursive: true });
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
    await run('npm', ['run', 'build'], {
      cwd: work,
      env: { ...process.env, HERALD_COMMIT: 'image-test' },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`npm run build in the build stage's files failed: ${error.stderr ?? error.message}`);
    });
    for (const file of ['dist/cli/main.js', 'dist/ui/index.html', 'dist/build-info.json']) {
      expect(existsSync(path.join(work, file)), file).toBe(true);
    }
    expect(JSON.parse(readFileSync(path.join(work, 'dist/build-info.json'), 'utf8'))).toEqual({
      commit: 'image-test',
    });
  }, 300_000);
});
