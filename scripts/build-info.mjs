// Bakes the git commit into dist/build-info.json after `tsc`, so `herald version` and GET /version name
// the commit an installed copy was built from. HERALD_COMMIT wins (the Docker build has no .git); without
// either the file says nothing and the broker falls back to `git rev-parse HEAD` at run time, or `unknown`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

const commit = process.env.HERALD_COMMIT?.trim() || gitCommit();
writeFileSync(
  new URL('../dist/build-info.json', import.meta.url),
  JSON.stringify(commit ? { commit } : {}) + '\n',
);
