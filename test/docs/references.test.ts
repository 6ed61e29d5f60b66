// The names the documentation gives — metrics and their labels, flags, error codes and their statuses,
// defaults — are the ones the code defines. Tables are checked by docs.test.ts and the error registry's
// test; these checks read the prose too, where a renamed or removed name would otherwise stay unnoticed.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROKER_OPTIONS, parseDuration, parseSize } from '../../src/config/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { BrokerMetrics } from '../../src/observability/metrics.js';
import { JETSTREAM_NOT_READY_CAUSES } from '../../src/store/jetstream/not-ready.js';
import { CLI } from '../harness/processes.js';
import { ROOT } from './markdown.js';
import { clientOptionHelp, cliOptions, mentions, readPages, section } from './references.js';

const pages = readPages();
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
/** The non-test source files (TypeScript, scripts, YAML) under `dir`, repository-relative. */
function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory())
      return ['node_modules', 'dist', 'docs'].includes(entry.name) ? [] : sourceFiles(file);
    return /\.(?:ts|mjs|js|sh|ya?ml|tpl)$/.test(entry.name) && !entry.name.endsWith('.test.ts') ? [file] : [];
  });
}
const page = (file: string) => pages.find((p) => p.file === file)!.all;

/** A metric as the broker registers it: name and label names. */
const registered = new Map(
  new BrokerMetrics(false).registry
    .getMetricsAsArray()
    .map((metric) => [metric.name, (metric as { labelNames?: readonly string[] }).labelNames ?? []] as const),
);

const fromSource = (values: readonly string[], ...files: string[]) => ({ values, files });
/**
 * The values each label can take. Where the code has them as a list they are read from it; where only a
 * type or the call sites name them, they are listed here with the files that do, and a test below checks
 * each still appears there as a literal. `undefined`: any value (a subscription id).
 */
const LABEL_VALUES: Record<
  string,
  Record<string, { values: readonly string[]; files: string[] } | undefined>
> = {
  herald_requests_rejected_total: { code: fromSource(Object.keys(ErrorCodes)) },
  herald_limit_rejections_total: { limit: fromSource(BROKER_OPTIONS.map((o) => o.name)) },
  herald_store_not_ready: { cause: fromSource(JETSTREAM_NOT_READY_CAUSES) },
  herald_deliveries_total: {
    outcome: fromSource(
      ['delivered', 'retried', 'deadlettered'],
      'src/dispatch/worker.ts',
      'src/dispatch/dead-lettering.ts',
    ),
  },
  herald_dead_letters_dropped_total: {
    reason: fromSource(['max-age', 'max-letters', 'max-bytes'], 'src/store/types.ts'),
  },
  herald_log_reads_total: {
    reader: fromSource(['tail', 'subscription'], 'src/dispatch/shared-tail.ts', 'src/dispatch/worker.ts'),
  },
  herald_event_types_dropped_total: {
    reason: fromSource(['limit', 'too-long'], 'src/eventtypes/registry.ts'),
  },
  herald_event_type_writes_total: { outcome: fromSource(['ok', 'error'], 'src/eventtypes/registry.ts') },
  herald_event_type_schema_errors_total: {
    reason: fromSource(
      ['invalid', 'recursive', 'overflow'],
      'src/eventtypes/schema-validator.ts',
      'src/eventtypes/registry.ts',
    ),
  },
  herald_auth_failures_total: {
    reason: fromSource(
      ['missing', 'malformed', 'invalid', 'oversized', 'backend', 'busy'],
      'src/auth/authenticator.ts',
    ),
  },
  herald_authz_denials_total: {
    action: fromSource(
      ['publish', 'subscribe', 'read', 'admin', 'unlisted', 'owner', 'host', 'origin'],
      'src/auth/routes.ts',
      'src/auth/access.ts',
    ),
  },
  herald_stream_auth_ends_total: { reason: fromSource(['expired', 'revoked'], 'src/log-api/log-api.ts') },
  herald_filter_budget_exceeded_total: {
    where: fromSource(['subscription', 'log-read'], 'src/broker/broker.ts', 'src/broker/log-filter.ts'),
  },
  herald_sink_guard_refusals_total: { stage: fromSource(['create', 'connect'], 'src/sink-guard/guard.ts') },
  herald_subscription_lag: { subscription: undefined },
  herald_subscription_failing: { subscription: undefined },
  herald_subscription_dead_letters: { subscription: undefined },
  herald_subscription_invalid: { subscription: undefined, code: fromSource(Object.keys(ErrorCodes)) },
};

/**
 * `herald_name`, `herald_name{label}`, `herald_name{label="value"}` (a placeholder value is not checked). Not
 * the JetStream KV buckets, `herald_<broker>_cursors`.
 */
const METRIC = /\bherald_[a-z][a-z0-9_]*(?:\{[^}\n]*\})?/g;
/** A histogram's series (`herald_append_duration_seconds_bucket`, `_sum`, `_count`) are the histogram's. */
const histogramSeries = (name: string) => name.replace(/_(?:bucket|sum|count)$/, '');

/** The values a parenthesis right after `{label}` lists: (`a`, `b` or `c`), (`label` is `a`, …: why). */
function enumerated(rest: string, label: string): string[] {
  const list = /^`?\s*\(([^)]*)\)/.exec(rest)?.[1] ?? '';
  return [...list.split(':')[0]!.matchAll(/`([a-z][a-z-]*)`/g)].map((m) => m[1]!).filter((v) => v !== label);
}

describe('the metrics the documentation names', () => {
  const named = pages.flatMap((p) => mentions(p.file, p.all, METRIC));

  it('are metrics the broker registers, with labels they have and values the code can emit', () => {
    expect(named.length).toBeGreaterThan(50);
    const wrong: string[] = [];
    for (const { at, name, rest } of named) {
      const [, metric = '', labels] = /^([^{]*)(?:\{(.*)\})?$/.exec(name)!;
      const base = registered.has(metric) ? metric : histogramSeries(metric);
      const labelNames = registered.get(base);
      if (labelNames === undefined) {
        wrong.push(`${at}: ${name}: no such metric`);
        continue;
      }
      for (const pair of (labels ?? '').split(',').filter((p) => p.trim() !== '')) {
        const [, label = '', value] = /^\s*([a-z_]+)\s*(?:=\s*"([^"]*)")?\s*$/.exec(pair) ?? [];
        if (!labelNames.includes(label) && !(base !== metric && label === 'le')) {
          wrong.push(
            `${at}: ${name}: ${base} has no label '${label}' (it has ${labelNames.join(', ') || 'none'})`,
          );
          continue;
        }
        const known = LABEL_VALUES[base]?.[label];
        if (known === undefined) continue;
        // `herald_x{reason}` (`a`, `b`, `c`): the values, listed right after the label — all of them.
        const listed = value === undefined ? enumerated(rest, label) : /^[<…]/.test(value) ? [] : [value];
        for (const one of listed.filter((v) => !known.values.includes(v)))
          wrong.push(`${at}: ${name}: ${label} is never '${one}' (it is one of ${known.values.join(', ')})`);
        if (value === undefined && listed.length > 0) {
          const left = known.values.filter((v) => !listed.includes(v));
          if (left.length > 0) wrong.push(`${at}: ${name}: the values listed leave out ${left.join(', ')}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('are all registered by BrokerMetrics: no other source file makes a metric', () => {
    const makers = sourceFiles('src').filter(
      (file) => file !== 'src/observability/metrics.ts' && /from 'prom-client'/.test(read(file)),
    );
    expect(makers).toEqual([]);
  });

  it('include every metric the broker registers, in the README or docs/operations.md', () => {
    const lists =
      section(page('README.md'), '## Operations') + section(page('docs/operations.md'), '## Metrics');
    const listed = new Set([...lists.matchAll(METRIC)].map((m) => m[0].replace(/\{.*$/, '')));
    expect([...registered.keys()].filter((name) => name.startsWith('herald_') && !listed.has(name))).toEqual(
      [],
    );
  });

  it('have label values known here for every label the broker registers, found where the code names them', () => {
    const missing: string[] = [];
    for (const [metric, labelNames] of registered) {
      for (const label of labelNames)
        if (!(label in (LABEL_VALUES[metric] ?? {}))) missing.push(`${metric}{${label}}`);
    }
    expect(missing).toEqual([]);
    const stale: string[] = [];
    for (const [metric, labels] of Object.entries(LABEL_VALUES)) {
      for (const [label, known] of Object.entries(labels)) {
        if (known === undefined || known.files.length === 0) continue;
        const text = known.files.map(read).join('\n');
        for (const value of known.values)
          if (!text.includes(`'${value}'`))
            stale.push(`${metric}{${label}="${value}"} in ${known.files.join(', ')}`);
      }
    }
    expect(stale).toEqual([]);
  });
});

/** Options of tools that are not Herald's, which the pages mention as they use them: flag → whose. */
const OTHER_TOOLS: Record<string, string> = {
  '--cpu-prof': 'node: write a CPU profile',
  '--max-semi-space-size':
    "V8: the young generation's semi-space (the broker sets it from --heap-semi-space)",
  '--single-threaded-gc': 'V8: garbage collection on the main thread only (a one-core broker)',
  '--optimize-for-size': 'V8: a smaller heap at the cost of speed',
  '--build-arg': 'docker build',
  '--entrypoint': 'docker run',
  '--create-namespace': 'helm install',
  '--strict': 'helm lint',
  '--user': "nats-server's command line",
  '--pass': "nats-server's command line",
  '--data-binary': 'curl',
  '--data-urlencode': 'curl',
  '--limit-rate': 'curl',
  '--silent': 'curl, npm',
  '--from-literal': 'kubectl create secret',
  '--audience': 'kubectl create token',
  '--cascade': 'kubectl delete (orphan a StatefulSet to make it again)',
  '--set': 'helm install',
};
/** The project's own scripts, whose options the pages name beside Herald's: a flag is theirs if defined there. */
const SCRIPTS = ['bench/run.ts', 'bench/soak/run.ts', 'test/planted/run.sh'];
const scriptDefines = (flag: string) => {
  const name = flag.slice(2);
  return SCRIPTS.some((file) => {
    const text = read(file);
    // `arg === '--quick'`, a shell `case` arm `--no-baseline)`, or util.parseArgs' `duration: { type: … }`.
    return [`'${flag}'`, `${flag})`, `${name}: {`, `'${name}': {`].some((form) => text.includes(form));
  });
};

const commands = cliOptions(CLI);
const anyCommand = new Set([...commands.values()].flat());
/** `--flag` as a token of its own (not the `--` of a longer dash, nor inside a word). */
const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g;

describe('the flags the documentation names', () => {
  // Commands in fenced blocks too: a skipped example (one the docs tests cannot run) keeps a renamed flag.
  it('are options of a herald command, of the project scripts, or of a tool listed here with why', () => {
    expect(commands.get('broker')).toContain('--max-log-reads');
    expect(commands.get('subscriptions create')).toContain('--dead-letter-sink');
    const wrong: string[] = [];
    for (const p of pages) {
      for (const { at, name, after } of mentions(p.file, p.all, FLAG)) {
        if (anyCommand.has(name) || name in OTHER_TOOLS || scriptDefines(name)) continue;
        // `--kafka-sasl-*`, `--retention-…`: a family of flags, when one of them exists.
        if (/^[*…]/.test(after) && name.endsWith('-') && [...anyCommand].some((f) => f.startsWith(name)))
          continue;
        wrong.push(`${at}: ${name}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/** The environment variables the code reads: `env['HERALD_X']`, `env.HERALD_X`, `.env('HERALD_X')`, `${HERALD_X`, `[HERALD_X]` in a help text. */
function variablesRead(): Set<string> {
  const names = new Set<string>(
    BROKER_OPTIONS.map((o) => `HERALD_${o.name.toUpperCase().replaceAll('-', '_')}`),
  );
  const files = ['src', 'test', 'bench', 'scripts', 'deploy'].flatMap(sourceFiles);
  for (const file of [...files, 'stryker.config.mjs', 'Dockerfile']) {
    const text = read(file);
    for (const m of text.matchAll(
      /(?:env(?:\.|\[\s*['"]|\(\s*['"])|\$\{?|\[|name: ['"])(HERALD_[A-Z0-9_]+)/g,
    ))
      names.add(m[1]!);
  }
  return names;
}

describe('the HERALD_ names the documentation gives', () => {
  const variables = variablesRead();

  it('are error codes of the registry or variables the code reads', () => {
    expect(variables).toContain('HERALD_URL');
    const wrong: string[] = [];
    for (const p of pages) {
      for (const { at, name } of mentions(p.file, p.all, /\bHERALD_[A-Z0-9_]+/g)) {
        if (!(name in ErrorCodes) && !variables.has(name)) wrong.push(`${at}: ${name}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('have the HTTP status the registry gives them where a status comes right before the code', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const p of pages) {
      for (const { at, name, before } of mentions(p.file, p.all, /\bHERALD_[A-Z0-9_]+/g)) {
        // `503 HERALD_STORE_UNAVAILABLE`, `429` (`HERALD_TOO_MANY_STREAMS`), `409` `HERALD_CONFLICT`
        const status = /(?<![\w.-])([1-5]\d\d)`?\s*\(?`?$/.exec(before)?.[1];
        const entry = (ErrorCodes as Record<string, { status: number }>)[name];
        if (status === undefined || entry === undefined) continue;
        checked++;
        if (Number(status) !== entry.status)
          wrong.push(`${at}: ${status} ${name} (the registry: ${entry.status})`);
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(wrong).toEqual([]);
  });
});

/** A value as written compared with a default: `20 s` is `20s`, `10,000` is `10000`, `2m` is `120s`, `1MiB` is `1048576`. */
function sameValue(written: string, value: string): boolean {
  const plain = (text: string) =>
    text
      .trim()
      .replace(/^`|`$/g, '')
      .replace(/(\d),(?=\d{3}\b)/g, '$1')
      .replace(/(\d)\s+(?=[a-zA-Z])/, '$1')
      .replace(/(\d)(?:seconds?|secs?)$/, '$1s');
  const [a, b] = [plain(written), plain(value)];
  if (a === b) return true;
  const [da, db] = [parseDuration(a), parseDuration(b)];
  if (da !== undefined && db !== undefined) return da === db;
  const [sa, sb] = [parseSize(a), parseSize(b)];
  return sa !== undefined && sb !== undefined && sa === sb;
}

/**
 * "(20 s)", "(60 s, body included)", "(1024 characters)", "(64 MiB of event data)": a number, maybe with a
 * unit and a word for what it counts, alone in the parenthesis or before a remark. Not "(0 = none)",
 * "(431 before any work)" nor "(1, 3 or 5)".
 */
const BARE = /^`?\s*\((\d[\d,]*(?:\.\d+)?(?:\s?(?:ms|s|m|h|d|[KMG]i?B)\b)?)(?:\s[a-z]+)?(?:\)|,\s+\D|\sof\s)/;

/**
 * The default the text right after a flag gives it, if it gives one: "(default `X`)", ", default X",
 * "`X` (default)", or a bare "(20 s)" (a number, with its unit). Words instead of a value ("default: one
 * second's worth", "default the host") are not a value to compare.
 */
function statedDefault(after: string): string | undefined {
  // The clause about this flag: up to the next flag, table cell, sentence or `;` — but when the flag ends
  // its table cell, the rest of the row (`| --url URL | HERALD_URL | the broker (default …) |`) is about it.
  const rest = /^[^|`]*`?\s*\|/.test(after) ? after.replaceAll('|', ' ') : after;
  const clause = rest.split(/(?<![\w-])--[a-z]|\.\s|;| \| /)[0]!;
  const said = /\bdefault:?\s+(`[^`]+`|[^\s,;)]+)/.exec(clause)?.[1];
  if (said !== undefined) return /^[`\d]/.test(said) ? said : undefined;
  return /`([^`]+)`\s*\(default\)/.exec(clause)?.[1] ?? BARE.exec(clause)?.[1];
}

const BROKER = new Map(BROKER_OPTIONS.map((o) => [`--${o.name}`, o.default as string]));
/** What the other commands' help says of their options, defaults included (`version` takes the broker's). */
const otherHelp = clientOptionHelp(
  CLI,
  [...commands.keys()].filter((command) => !['', 'broker', 'version', 'completion'].includes(command)),
);
/** Whether `written` is a default of `flag`: the broker schema's, or one the flag's help text gives. */
function isDefault(flag: string, written: string): boolean {
  const broker = BROKER.get(flag);
  if (broker !== undefined && sameValue(written, broker)) return true;
  const value = written.replace(/^`|`$/g, '');
  return (otherHelp.get(flag) ?? []).some((help) => help.includes(value));
}

describe('the defaults the documentation gives', () => {
  it('right after a --flag in the prose are the defaults the schema or the command gives it', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const p of pages) {
      for (const { at, name, after } of mentions(p.file, p.prose, FLAG)) {
        const written = statedDefault(after);
        if (written === undefined || (!BROKER.has(name) && !otherHelp.has(name))) continue;
        checked++;
        if (!isDefault(name, written))
          wrong.push(
            `${at}: ${name} default ${written} (the code: ${BROKER.get(name) ?? otherHelp.get(name)?.join(' / ')})`,
          );
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(wrong).toEqual([]);
  });

  it('in a flag table with a default column are the defaults the schema or the command gives', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const p of pages) {
      let column: number | undefined;
      p.prose.split('\n').forEach((line, index) => {
        if (!line.startsWith('|')) {
          column = undefined;
          return;
        }
        const cells = line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim());
        const header = cells.indexOf('default');
        if (header !== -1) column = header;
        const flag = /^`(--[a-z][a-z0-9-]*)/.exec(cells[0] ?? '')?.[1];
        if (column === undefined || flag === undefined) return;
        const cell = cells[column] ?? '';
        // A value in backticks, or no value (an empty cell, "none"); words ("one second's worth") are skipped.
        const written = /`([^`]*)`/.exec(cell)?.[1] ?? (/^(?:|none|—|-)$/.test(cell) ? '' : undefined);
        if (written === undefined) return;
        checked++;
        const ok = written === '' ? BROKER.get(flag) === '' : isDefault(flag, written);
        if (!ok)
          wrong.push(
            `${p.file}:${index + 1}: ${flag} default '${written}' (the code: ${BROKER.get(flag) ?? otherHelp.get(flag)?.join(' / ')})`,
          );
      });
    }
    expect(checked).toBeGreaterThan(BROKER_OPTIONS.length);
    expect(wrong).toEqual([]);
  });
});
