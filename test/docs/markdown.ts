// The fenced code blocks of the documentation, with where they are and what the page says about running
// them. A block is steered by a marker, an HTML comment on the line right before its fence (invisible when
// the page is rendered):
//
//   <!-- docs-test: skip reason="needs a running Istio sidecar" -->
//   <!-- docs-test: background wait="http://localhost:8080/readyz" -->   another terminal; waits until ready
//   <!-- docs-test: background restart wait="tcp:9000" -->  stops the session's earlier servers first
//   <!-- docs-test: interrupt=2 -->   each command stopped after 2 s, as with Ctrl-C (a live tail)
//   <!-- docs-test: output="shape" -->  the output shown is illustrative: compare its JSON shape only
//   <!-- docs-test: kubectl-columns -->  `kubectl get X -n NS` and the header it prints: manifests.test.ts
//       compares the header with the columns the API server's table for X has (what kubectl prints)
//   <!-- docs-test: output -->  a block that shows what the last command of the shell block before it printed
//
// In a shell block, comments right after a command (or at the end of its line) say what it does:
// `# → 201` or `# 403: …` the HTTP status of its (last) request, `# → exit 2` its exit status, and any
// other comment lines right after it its output.
//
// Without a marker: shell blocks run in the page's shell, js blocks with node, json blocks must parse, a
// YAML block whose first line is `# NAME.yaml — run with: COMMAND` is written as NAME.yaml and COMMAND
// started as the page's server (`# NAME.yaml` alone: only written), and any other YAML is a Kubernetes
// manifest that manifests.test.ts applies. Any other block fails the test unless a marker says why.
//
// A marker that no fence follows is a step of its own at its place in the page: a server the following
// examples talk to, which the prose asks the reader to start (`restart` stops the earlier ones first;
// `wait` defaults to http://localhost:8080/readyz):
//
//   <!-- docs-test: setup="npm start" restart -->
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type Marker = Readonly<Record<string, string | true>>;

export interface DocBlock {
  /** Repository-relative path of the page. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** First word of the info string ('' when there is none). */
  readonly language: string;
  /** The rest of the info string (e.g. `knative` in "```yaml knative"). */
  readonly tag: string;
  readonly text: string;
  readonly marker: Marker | undefined;
}

export interface DocPage {
  readonly file: string;
  readonly blocks: readonly DocBlock[];
  /** Markers that no fence follows, each a step at its place in the page. */
  readonly directives: ReadonlyArray<{ readonly line: number; readonly marker: Marker }>;
}

const MARKER = /^\s*<!--\s*docs-test:(.*?)-->\s*$/;

export function parseMarker(body: string): Marker {
  const marker: Record<string, string | true> = {};
  for (const m of body.matchAll(/([a-z][a-z-]*)(?:=(?:"([^"]*)"|(\S+)))?/g)) {
    marker[m[1]!] = m[2] ?? m[3] ?? true;
  }
  return marker;
}

export function readPage(file: string): DocPage {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  const directives: Array<{ line: number; marker: Marker }> = [];
  let pending: { line: number; marker: Marker } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marker = MARKER.exec(line);
    if (marker !== null) {
      if (pending !== undefined) directives.push(pending);
      pending = { line: i + 1, marker: parseMarker(marker[1]!) };
      // A setup step is a step of its own even right before a fence.
      if (pending.marker['setup'] !== undefined) {
        directives.push(pending);
        pending = undefined;
      }
      continue;
    }
    const fence = /^(\s*)(```+)(.*)$/.exec(line);
    if (fence === null) {
      if (pending !== undefined && line.trim() !== '') {
        directives.push(pending);
        pending = undefined;
      }
      continue;
    }
    const [, indent, ticks, info] = fence as unknown as [string, string, string, string];
    const [language = '', ...tag] = info.trim().split(/\s+/);
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== ticks) end++;
    const text = lines
      .slice(i + 1, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()))
      .join('\n');
    blocks.push({ file, line: i + 1, language, tag: tag.join(' '), text, marker: pending?.marker });
    pending = undefined;
    i = end;
  }
  if (pending !== undefined) directives.push(pending);
  return { file, blocks, directives };
}

export const SHELL_LANGUAGES = new Set(['bash', 'sh', 'shell', 'console']);

export interface ShellCommand {
  /** 1-based line in the page. */
  readonly line: number;
  readonly text: string;
  /** The HTTP status the page says the command's (last) request answers: `# 202`, `# → 201, …`. */
  readonly status: number | undefined;
  /** Output the page shows in comment lines right after the command (without the `# `). */
  readonly output: string | undefined;
  /** The exit status the page says the command ends with (`# → exit 2`), when it is not 0. */
  readonly exit: number | undefined;
}

function complete(text: string): boolean {
  try {
    execFileSync('bash', ['-n', '-c', text], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const STATUS_COMMENT = /^(?:→\s*)?([1-5]\d\d)(?:$|[\s:;,])/;
const EXIT_COMMENT = /^(?:→\s*)?exit (\d+)(?:$|[\s:;,])/;

/** Splits a shell block into its commands, as a shell reads them, with the output the page shows. */
export function shellCommands(block: DocBlock): ShellCommand[] {
  const lines = block.text.split('\n');
  const commands: Array<{ line: number; text: string; status?: number; exit?: number; output: string[] }> =
    [];
  let last: (typeof commands)[number] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      last = undefined;
      continue;
    }
    if (line.trimStart().startsWith('#')) {
      const comment = line.trimStart().replace(/^#\s?/, '');
      if (last !== undefined) {
        const status = last.output.length === 0 ? STATUS_COMMENT.exec(comment) : null;
        const exit = last.output.length === 0 ? EXIT_COMMENT.exec(comment) : null;
        if (status !== null) last.status = Number(status[1]);
        else if (exit !== null) last.exit = Number(exit[1]);
        else last.output.push(comment);
      }
      continue;
    }
    const start = i;
    let text = line;
    for (;;) {
      const heredoc = /<<-?\s*['"]?(\w+)['"]?/.exec(text);
      if (heredoc !== null && !text.split('\n').slice(1).includes(heredoc[1]!)) {
        while (i + 1 < lines.length && lines[i]!.trim() !== heredoc[1]) text += `\n${lines[++i]}`;
      }
      if (!text.endsWith('\\') && complete(text)) break;
      if (i + 1 >= lines.length)
        throw new Error(`${block.file}:${block.line + 1 + start}: incomplete command`);
      text += `\n${lines[++i]}`;
    }
    const trailing = / #\s*(.*)$/.exec(lines[i]!);
    const status = trailing === null ? null : STATUS_COMMENT.exec(trailing[1]!);
    const exit = trailing === null ? null : EXIT_COMMENT.exec(trailing[1]!);
    last = { line: block.line + 1 + start, text, output: [] };
    if (status !== null) last.status = Number(status[1]);
    if (exit !== null) last.exit = Number(exit[1]);
    commands.push(last);
  }
  return commands.map((c) => ({
    line: c.line,
    text: c.text,
    status: c.status,
    exit: c.exit,
    output: c.output.length > 0 ? c.output.join('\n') : undefined,
  }));
}

/**
 * Whether `actual` is what the page shows: whitespace is ignored, `"…"` stands for any JSON string, any other
 * `…` for anything, and inside a quoted string a run of digits for any run of digits (times, versions and
 * ids differ from run to run; numbers outside strings, such as a status or an index, must be equal).
 */
export function outputMatches(expected: string, actual: string): boolean {
  const squeeze = (s: string) => s.replace(/\s+/g, '');
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = squeeze(expected)
    .split(/("…"|…|"(?:[^"\\]|\\.)*")/)
    .map((part) => {
      if (part === '"…"') return '"[^"]*"';
      if (part === '…') return '[\\s\\S]*?';
      if (part.startsWith('"'))
        return part
          .split(/(…|\d+)/)
          .map((p) => (p === '…' ? '[^"]*' : /^\d+$/.test(p) ? '\\d+' : escape(p)))
          .join('');
      return escape(part);
    })
    .join('');
  return new RegExp(`^${pattern}$`).test(squeeze(actual));
}

/**
 * Parses an illustrative JSON text: `"…"` is a string, `, …` at the end of an array or object means "and
 * more" and is left out, any other `…` is a value.
 */
function illustrative(text: string): unknown {
  const json = text
    .replace(/,\s*…\s*(?=[\]}])/g, '')
    .replace(/"[^"]*…[^"]*"/g, '"…"')
    .replace(/…/g, 'null');
  return JSON.parse(json) as unknown;
}

/**
 * Whether `actual` (JSON) has the shape of the illustrative `expected`: every member shown is there, with
 * the same kind of value; an array shown with elements may be empty, else its first element has the shape
 * of the first one shown. Values themselves are not compared (they are examples).
 */
export function shapeMatches(expected: string, actual: string): string | undefined {
  let want: unknown;
  let got: unknown;
  try {
    want = illustrative(expected);
  } catch (error) {
    return `the page's output is not JSON even with … read as "anything": ${String(error)}`;
  }
  try {
    got = JSON.parse(actual) as unknown;
  } catch {
    return 'the output is not JSON';
  }
  const compare = (w: unknown, g: unknown, at: string): string | undefined => {
    if (w === null) return undefined;
    if (Array.isArray(w)) {
      if (!Array.isArray(g)) return `${at}: expected an array`;
      return w.length === 0 || g.length === 0 ? undefined : compare(w[0], g[0], `${at}/0`);
    }
    if (typeof w === 'object') {
      if (typeof g !== 'object' || g === null || Array.isArray(g)) return `${at}: expected an object`;
      for (const [key, value] of Object.entries(w)) {
        if (!(key in g)) return `${at}/${key}: missing`;
        const problem = compare(value, (g as Record<string, unknown>)[key], `${at}/${key}`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    return typeof w === typeof g || g === null ? undefined : `${at}: expected a ${typeof w}`;
  };
  return compare(want, got, '');
}
