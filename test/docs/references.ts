// What the documentation names — metrics, flags, error codes, defaults — with where, for references.test.ts
// to hold against what the code defines. Reading is generous (every token that looks like a name), so a
// renamed or removed name cannot hide in a sentence the tables do not cover.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './markdown.js';
import { PAGES } from './pages.js';

/** Every page of prose: the pages whose examples run, and the CESQL reference beside its code. */
export const DOC_PAGES: readonly string[] = [...PAGES, 'src/cesql/README.md'];

export interface Mention {
  /** `file:line` of the mention. */
  readonly at: string;
  readonly name: string;
  /** The text after the name up to the end of its line, for what the page says about it. */
  readonly after: string;
  /** The text after the name to the end of the page. */
  readonly rest: string;
  /** The text before the name on its line. */
  readonly before: string;
}

export interface PageText {
  readonly file: string;
  /** The page with fenced blocks and HTML comments blanked out (lines kept, so line numbers hold). */
  readonly prose: string;
  readonly all: string;
}

/** Blanks what is not prose: fenced blocks (commands and output, run by executed.test.ts) and comments. */
export function proseOf(text: string): string {
  const lines = text.split('\n');
  let fence: string | undefined;
  const kept = lines.map((line) => {
    const opening = /^\s*(```+|~~~+)/.exec(line);
    if (fence === undefined && opening !== null) {
      fence = opening[1]!;
      return '';
    }
    if (fence !== undefined) {
      if (line.trim() === fence) fence = undefined;
      return '';
    }
    return line;
  });
  // Comments may span lines: blank them character by character so the line numbers stay.
  return kept.join('\n').replace(/<!--[\s\S]*?-->/g, (comment) => comment.replace(/[^\n]/g, ' '));
}

export function readPages(files: readonly string[] = DOC_PAGES): PageText[] {
  return files.map((file) => {
    const all = readFileSync(path.join(ROOT, file), 'utf8');
    return { file, all, prose: proseOf(all) };
  });
}

/** Every match of `pattern` (global) in `text`, with its line and the text either side on that line. */
export function mentions(file: string, text: string, pattern: RegExp): Mention[] {
  const found: Mention[] = [];
  for (const match of text.matchAll(pattern)) {
    const index = match.index;
    const lineStart = text.lastIndexOf('\n', index - 1) + 1;
    const lineEnd = text.indexOf('\n', index);
    const line = text.slice(0, index).split('\n').length;
    found.push({
      at: `${file}:${line}`,
      name: match[0],
      before: text.slice(lineStart, index),
      after: text.slice(index + match[0].length, lineEnd === -1 ? undefined : lineEnd),
      rest: text.slice(index + match[0].length),
    });
  }
  return found;
}

/** The section of `text` from the heading `heading` (a whole line) to the next heading of its level or higher. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) throw new Error(`no heading ${heading}`);
  const level = /^#+/.exec(heading)![0].length;
  const end = lines.findIndex(
    (line, i) => i > start && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level,
  );
  return lines.slice(start, end === -1 ? undefined : end).join('\n');
}

/**
 * The options of every `herald` command, as its completion script lists them (read from the commander
 * program itself, pass-through commands — broker, operator, manifests, cesql — included): command path →
 * flags. Runs the built CLI, as the other docs tests do.
 */
export function cliOptions(cli: string): Map<string, string[]> {
  const script = execFileSync(process.execPath, [cli, 'completion', 'bash'], { encoding: 'utf8' });
  const body = script.slice(script.indexOf('_herald_options()'));
  const options = new Map<string, string[]>();
  for (const arm of body.matchAll(/^\s*"([^"]*)"\) echo "([^"]*)" ;;$/gm)) {
    options.set(
      arm[1]!,
      arm[2]!.split(' ').filter((flag) => flag.startsWith('--')),
    );
    if (arm[1] === 'completion') break;
  }
  return options;
}

/**
 * What `herald <command> --help` says of each option (its description, defaults included: commander's
 * `(default: "…")` or the command's own words), for the client commands: flag → descriptions.
 */
export function clientOptionHelp(cli: string, commands: readonly string[]): Map<string, string[]> {
  const described = new Map<string, string[]>();
  for (const command of commands) {
    const help = execFileSync(process.execPath, [cli, ...command.split(' '), '--help'], { encoding: 'utf8' });
    // commander wraps long descriptions: join the continuation lines to their option first.
    const options = help.replace(/\n {20,}/g, ' ');
    for (const m of options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)(.*)$/gm)) {
      described.set(m[1]!, [...(described.get(m[1]!) ?? []), m[2]!]);
    }
  }
  return described;
}
