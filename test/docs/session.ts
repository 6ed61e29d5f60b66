// Runs a documentation page the way a reader would: its shell blocks in order in one shell, its
// JavaScript blocks with node, its servers "in another terminal", in a copy of the project directory.
//
// Each page runs in its own network and PID namespaces (`unshare`): only loopback exists, so the page's
// addresses (a broker on :8080, a sink on :9000, …) are used exactly as written, pages do not collide
// with each other or with other test runs on the machine, nothing can reach beyond the machine, and every
// process a page starts ends with it.
//
// Between the page and the machine there are two small shims on the PATH: `npm` (install and build are
// done by the test run already; `npm start` is the package's start script without its build step) and
// `curl` (the real curl, which also writes each request's HTTP status for the test's checks).
// `herald` is on the PATH the documented way: `npm link`, into the page's own npm prefix.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { DocBlock, DocPage, Marker } from './markdown.js';
import { ROOT, SHELL_LANGUAGES, shellCommands } from './markdown.js';
import type { ShellCommand } from './markdown.js';

/** How the test treats a block. */
export type BlockKind =
  | { kind: 'skip'; reason: string }
  | { kind: 'shell'; commands: ShellCommand[]; interrupt?: number }
  | { kind: 'background'; wait: string; restart: boolean }
  | { kind: 'js' }
  | { kind: 'json' }
  | { kind: 'output'; mode: 'exact' | 'shape' }
  | { kind: 'config'; name: string; run: string | undefined }
  | { kind: 'manifest' }
  | { kind: 'kubectl-columns' }
  | { kind: 'unknown'; why: string };

const CONFIG_FILE = /^#\s*([\w.-]+\.ya?ml)\b(?:.*?run with:\s*(.+))?$/;

export function classify(block: DocBlock): BlockKind {
  const marker: Marker = block.marker ?? {};
  if (marker['skip'] !== undefined) {
    const reason = marker['reason'];
    return typeof reason === 'string' && reason !== ''
      ? { kind: 'skip', reason }
      : { kind: 'unknown', why: 'a skip marker needs reason="…"' };
  }
  if (SHELL_LANGUAGES.has(block.language)) {
    if (marker['kubectl-columns'] !== undefined) return { kind: 'kubectl-columns' };
    if (marker['background'] !== undefined) {
      const wait = marker['wait'];
      if (typeof wait !== 'string') return { kind: 'unknown', why: 'a background block needs wait="…"' };
      return { kind: 'background', wait, restart: marker['restart'] !== undefined };
    }
    const interrupt = marker['interrupt'];
    return {
      kind: 'shell',
      commands: shellCommands(block),
      ...(typeof interrupt === 'string' ? { interrupt: Number(interrupt) } : {}),
    };
  }
  if (['js', 'javascript', 'mjs'].includes(block.language)) return { kind: 'js' };
  const output = marker['output'];
  if (output !== undefined) return { kind: 'output', mode: output === 'shape' ? 'shape' : 'exact' };
  if (block.language === 'json') return { kind: 'json' };
  if (block.language === 'yaml' || block.language === 'yml') {
    const config = CONFIG_FILE.exec(block.text.split('\n')[0] ?? '');
    if (config !== null) return { kind: 'config', name: config[1]!, run: config[2]?.trim() };
    return { kind: 'manifest' };
  }
  return { kind: 'unknown', why: `no way to run a "${block.language || 'plain'}" block; mark it` };
}

export interface CommandResult {
  /** Undefined when the command never finished (the page timed out while it ran). */
  readonly rc: number | undefined;
  readonly output: string;
  /** HTTP status of each curl request the command made. */
  readonly statuses: readonly number[];
}

export interface PageRun {
  /** By page line of the command (for background, js and config blocks: the fence's line). */
  readonly results: ReadonlyMap<number, CommandResult>;
  /** Everything the page's shell printed, for failure messages. */
  readonly transcript: string;
}

const MARK = '@@docs-test@@';

/** Puts `herald` on the PATH the way the README says: `npm link`, here into a prefix of the test's own. */
export function linkHerald(prefix: string): string {
  mkdirSync(prefix, { recursive: true });
  execFileSync('npm', ['link', '--offline', '--no-audit', '--no-fund'], {
    cwd: ROOT,
    env: { ...process.env, npm_config_prefix: prefix },
    stdio: 'ignore',
  });
  return path.join(prefix, 'bin');
}

function startCommand(): string {
  const start = (
    JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: { start: string };
    }
  ).scripts.start;
  const [build, run, ...rest] = start.split(' && ');
  // The test run has built already: if the start script changes shape, this shim must change with it.
  if (build !== 'npm run build --silent' || run === undefined || rest.length > 0)
    throw new Error(`unexpected start script: ${start}`);
  return run;
}

function writeShims(dir: string): void {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const npm = execFileSync('bash', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  const curl = execFileSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim();
  writeFileSync(
    path.join(bin, 'npm'),
    `#!/bin/bash
# npm as the documentation uses it. The test run has installed and built the project already.
case "$1" in
  install) exit 0 ;;
  start) shift; [ "\${1:-}" = -- ] && shift; exec ${startCommand()} "$@" ;;
  run) [ "\${2:-}" = build ] && exit 0 ;;
esac
exec "${npm}" "$@"
`,
  );
  writeFileSync(
    path.join(bin, 'curl'),
    `#!/bin/bash
# The real curl; the HTTP status of each request also goes to $DOCS_STATUS for the test's checks.
err="$(mktemp)"
"${curl}" --write-out '%{stderr}\\n${MARK} status %{http_code}\\n' "$@" 2>"$err"
rc=$?
grep -o '${MARK} status [0-9]*' "$err" | cut -d' ' -f3 >>"$DOCS_STATUS"
grep -v '${MARK} status' "$err" | sed -e '$ { /^$/ d }' >&2
rm -f "$err"
exit $rc
`,
  );
  for (const shim of ['npm', 'curl']) chmodSync(path.join(bin, shim), 0o755);
}

/** The project directory as a reader has it, without writing into the repository: a directory of links. */
function projectView(dir: string): string {
  const work = path.join(dir, 'work');
  mkdirSync(work, { recursive: true });
  for (const entry of readdirSync(ROOT)) {
    if (['data', '.git', 'node_modules'].includes(entry)) continue;
    symlinkSync(path.join(ROOT, entry), path.join(work, entry));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'));
  return work;
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

const PRELUDE = `
set -a
exec 2>&1
ip link set lo up || { echo "cannot bring up loopback in the page's network namespace"; exit 97; }
cd "$DOCS_WORK"
__docs_begin() { : >"$DOCS_STATUS"; __docs_t0=$EPOCHREALTIME; __docs_line=$1; printf '\\n${MARK} begin %s\\n' "$1"; }
__docs_end() {
  local rc=$1 ms=$(( (\${EPOCHREALTIME/./} - \${__docs_t0/./}) / 1000 ))
  echo "$__docs_line $ms ms" >>"$DOCS_DIR/timings"
  printf '\\n${MARK} end %s %s\\n' "$rc" "$(tr '\\n' ' ' <"$DOCS_STATUS")"
}
__docs_servers=()
__docs_stop_servers() {
  local p
  for p in "\${__docs_servers[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for p in "\${__docs_servers[@]}"; do
    for _ in $(seq 100); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null
  done
  __docs_servers=()
}
__docs_ready() {
  case "$1" in
    tcp:*) (exec 3<>"/dev/tcp/127.0.0.1/\${1#tcp:}") 2>/dev/null ;;
    *) "$DOCS_CURL" -sf -o /dev/null "$1" ;;
  esac
}
# A server "in another terminal": its own session, its output in a file, ready when "$3" answers.
__docs_background() {
  [ "$2" = restart ] && __docs_stop_servers
  setsid bash "$4" >"$DOCS_DIR/server-$1.log" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + 90))
  __docs_servers+=("$pid")
  until __docs_ready "$3"; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "not ready at $3; the server's output:"; tail -n 40 "$DOCS_DIR/server-$1.log"; return 1
    fi
    sleep 0.2
  done
}
`;

function backgroundStep(dir: string, line: number, text: string, wait: string, restart: boolean): string {
  const file = path.join(dir, `server-${line}.sh`);
  writeFileSync(file, `cd "$DOCS_WORK"\n${text}\n`);
  return `__docs_begin ${line}\n__docs_background ${line} ${restart ? 'restart' : 'keep'} ${q(wait)} ${q(file)}\n__docs_end $?\n`;
}

/** The page as one shell script, each step between begin/end marks. */
function script(page: DocPage, dir: string): string {
  const steps: string[] = [PRELUDE];
  const directives = [...page.directives];
  const setup = (before: number) => {
    while (directives.length > 0 && directives[0]!.line < before) {
      const { line, marker } = directives.shift()!;
      const command = marker['setup'];
      if (typeof command !== 'string') continue;
      const wait = marker['wait'];
      steps.push(
        backgroundStep(
          dir,
          line,
          command,
          typeof wait === 'string' ? wait : 'http://localhost:8080/readyz',
          marker['restart'] !== undefined,
        ),
      );
    }
  };
  for (const block of page.blocks) {
    setup(block.line);
    const kind = classify(block);
    switch (kind.kind) {
      case 'shell':
        for (const command of kind.commands) {
          if (kind.interrupt === undefined) {
            steps.push(`__docs_begin ${command.line}\n${command.text}\n__docs_end $?\n`);
          } else {
            const file = path.join(dir, `command-${command.line}.sh`);
            writeFileSync(file, `${command.text}\n`);
            steps.push(
              `__docs_begin ${command.line}\ntimeout -s INT ${kind.interrupt} bash ${q(file)}\n__docs_end $?\n`,
            );
          }
        }
        break;
      case 'background':
        steps.push(backgroundStep(dir, block.line, block.text, kind.wait, kind.restart));
        break;
      case 'js': {
        const file = `.docs-example-${block.line}.mjs`;
        writeFileSync(path.join(dir, 'work', file), block.text);
        steps.push(`__docs_begin ${block.line}\nnode ${file}\n__docs_end $?\n`);
        break;
      }
      case 'config':
        writeFileSync(path.join(dir, 'work', kind.name), `${block.text}\n`);
        if (kind.run !== undefined) {
          const wait = block.marker?.['wait'];
          steps.push(
            backgroundStep(
              dir,
              block.line,
              kind.run,
              typeof wait === 'string' ? wait : 'http://localhost:8080/readyz',
              true,
            ),
          );
        }
        break;
      default:
        break;
    }
  }
  setup(Infinity);
  steps.push(`__docs_stop_servers\nprintf '\\n${MARK} done\\n'\n`);
  return steps.join('');
}

function parse(transcript: string): Map<number, CommandResult> {
  const results = new Map<number, CommandResult>();
  const parts = transcript.split(new RegExp(`\\n?${MARK} `));
  for (let i = 0; i < parts.length; i++) {
    const begin = /^begin (\d+)\n([\s\S]*)$/.exec(parts[i]!);
    if (begin === null) continue;
    const end = /^end (\d+) ?([\d ]*)\n/.exec(parts[i + 1] ?? '');
    results.set(Number(begin[1]), {
      rc: end === null ? undefined : Number(end[1]),
      output: begin[2]!,
      statuses: end === null ? [] : end[2]!.trim().split(/\s+/).filter(Boolean).map(Number),
    });
  }
  return results;
}

export interface SessionOptions {
  readonly dir: string;
  readonly timeoutMs: number;
}

/** Runs every runnable block of a page in one shell session and reports what each command did. */
export async function runPage(page: DocPage, options: SessionOptions): Promise<PageRun> {
  const { dir } = options;
  // Each page has its own npm prefix, so a page's own `npm link` never races another page's `herald`.
  const heraldBin = linkHerald(path.join(dir, 'prefix'));
  writeShims(dir);
  const work = projectView(dir);
  for (const sub of ['home', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
  const file = path.join(dir, 'page.sh');
  writeFileSync(file, script(page, dir));
  const cache = process.env['HERALD_CACHE'] ?? path.join(homedir(), '.cache/herald');
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(HERALD_|OTEL_|KUBECONFIG$|npm_)/.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    // Last on the PATH: the servers the test run built (nats-server), which the docs expect installed.
    PATH: `${path.join(dir, 'bin')}:${heraldBin}:${process.env['PATH'] ?? ''}:${path.join(cache, 'bin')}`,
    HOME: path.join(dir, 'home'),
    TMPDIR: path.join(dir, 'tmp'),
    HERALD_CACHE: cache,
    npm_config_prefix: path.dirname(heraldBin),
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    DOCS_DIR: dir,
    DOCS_WORK: work,
    DOCS_STATUS: path.join(dir, 'status'),
    DOCS_CURL: execFileSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim(),
  });
  const child = spawn(
    'unshare',
    [
      '--user',
      '--map-root-user',
      '--net',
      '--pid',
      '--fork',
      '--kill-child',
      'bash',
      '--noprofile',
      '--norc',
      file,
    ],
    { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  const transcript = Buffer.concat(chunks).toString('utf8');
  writeFileSync(path.join(dir, 'transcript.txt'), transcript);
  if (code === 97 || (code !== 0 && !transcript.includes(MARK)))
    throw new Error(`the page's shell could not start (exit ${code}): ${transcript.slice(0, 2000)}`);
  return { results: parse(transcript), transcript };
}
