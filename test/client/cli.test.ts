// Acceptance (issue 13): the built `herald` binary, run as a child process against a real broker
// process, for every client command and output format, and every bad input with its message and exit code.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { removeDir, useBrokerAndSink } from '../harness/processes.js';
import { freePorts } from '../infra/process.js';
import { runCli } from './run-cli.js';

const env = useBrokerAndSink();
const dir = mkdtempSync(path.join(tmpdir(), 'herald-cli-client-'));
afterAll(() => removeDir(dir));

const url = () => ['--url', env.broker.url];
const json = <T>(text: string) => JSON.parse(text) as T;

interface SubscriptionOut {
  id: string;
  sink: string;
  status: { state: string; cursor: number };
}

async function createSubscription(...extra: string[]): Promise<SubscriptionOut> {
  const exit = await runCli([
    'subscriptions',
    'create',
    ...url(),
    '--sink',
    env.sink.url,
    '-o',
    'json',
    ...extra,
  ]);
  expect(exit.code, exit.stderr).toBe(0);
  return json<SubscriptionOut>(exit.stdout);
}

describe('herald publish (one event from flags) and match', () => {
  it('publishes with --data JSON, --ext and --subject, and the event is in the log', async () => {
    const exit = await runCli([
      'publish',
      ...url(),
      '--type',
      'com.example.cli.one',
      '--source',
      '/cli',
      '--id',
      'cli-1',
      '--subject',
      'eu/42',
      '--data',
      '{"order":42}',
      '--ext',
      'region=eu',
    ]);
    expect(exit.code, exit.stderr).toBe(0);
    expect(json(exit.stdout)).toEqual({
      published: 1,
      id: 'cli-1',
      source: '/cli',
      type: 'com.example.cli.one',
    });
    const tail = await runCli([
      'tail',
      ...url(),
      '--from',
      'earliest',
      '--filter',
      "id = 'cli-1'",
      '--limit',
      '1',
    ]);
    expect(tail.code, tail.stderr).toBe(0);
    expect(json<{ event: Record<string, unknown> }>(tail.stdout).event).toMatchObject({
      id: 'cli-1',
      subject: 'eu/42',
      region: 'eu',
      data: { order: 42 },
      datacontenttype: 'application/json',
    });
  });

  it('prints yaml and table forms', async () => {
    const yaml = await runCli([
      'publish',
      ...url(),
      '--type',
      't',
      '--source',
      '/cli',
      '--id',
      'y1',
      '-o',
      'yaml',
    ]);
    expect(yaml.code, yaml.stderr).toBe(0);
    expect(parseYaml(yaml.stdout)).toMatchObject({ published: 1, id: 'y1' });
    const table = await runCli([
      'publish',
      ...url(),
      '--type',
      't',
      '--source',
      '/cli',
      '--id',
      't1',
      '-o',
      'table',
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^PUBLISHED\s+ID\s+SOURCE\s+TYPE$/);
    expect(table.stdout).not.toContain('\u001b[');
  });

  it('match names exactly the subscriptions whose filters pass, in every format', async () => {
    const orders = await createSubscription('--type', 'com.example.match.order');
    const eu = await createSubscription('--filter', "subject LIKE 'eu/%'");
    const event = JSON.stringify({
      specversion: '1.0',
      id: 'm1',
      source: '/m',
      type: 'com.example.match.order',
      subject: 'eu/1',
    });
    const both = await runCli(['match', ...url(), '--event', event, '-o', 'json']);
    expect(both.code, both.stderr).toBe(0);
    const ids = json<{ subscriptions: Array<{ id: string; sink: string }> }>(both.stdout).subscriptions.map(
      (s) => s.id,
    );
    expect(ids).toContain(orders.id);
    expect(ids).toContain(eu.id);
    const other = JSON.stringify({
      specversion: '1.0',
      id: 'm2',
      source: '/m',
      type: 'com.example.match.other',
      subject: 'us/1',
    });
    const none = await runCli(['match', ...url(), '--event', other, '-o', 'yaml']);
    const found = (parseYaml(none.stdout) as { subscriptions: Array<{ id: string }> }).subscriptions.map(
      (s) => s.id,
    );
    expect(found).not.toContain(orders.id);
    expect(found).not.toContain(eu.id);
    const file = path.join(dir, 'event.json');
    writeFileSync(file, event);
    const table = await runCli(['match', ...url(), '--event', `@${file}`, '-o', 'table']);
    expect(table.stdout).toMatch(/^ID\s+SINK/);
    expect(table.stdout).toContain(orders.id);
    // Nothing was stored by the dry run.
    const tail = await runCli(
      ['tail', ...url(), '--from', 'earliest', '--filter', "id = 'm1'", '--limit', '1'],
      {
        timeoutMs: 3_000,
      },
    ).catch(() => 'timed out');
    expect(tail).toBe('timed out');
    for (const id of [orders.id, eu.id]) await runCli(['subscriptions', 'delete', ...url(), id]);
  });
});

describe('herald subscriptions and deadletters', () => {
  it('create, list, get, pause, resume, seek and delete, in json, yaml and table', async () => {
    const created = await createSubscription(
      '--type',
      'com.example.subs',
      '--from',
      'earliest',
      '--header',
      'x-team=blue',
    );
    expect(created.sink).toBe(env.sink.url);

    const list = await runCli(['subscriptions', 'list', ...url(), '-o', 'json']);
    expect(json<SubscriptionOut[]>(list.stdout).map((s) => s.id)).toContain(created.id);
    const yaml = await runCli(['subscriptions', 'list', ...url(), '-o', 'yaml']);
    expect((parseYaml(yaml.stdout) as SubscriptionOut[]).map((s) => s.id)).toContain(created.id);
    const table = await runCli(['subscriptions', 'list', ...url(), '-o', 'table']);
    expect(table.stdout).toMatch(/^ID\s+STATE\s+CURSOR\s+LAG\s+DEAD\s+SINK\s+FILTER/);
    expect(table.stdout).toContain(created.id);

    const get = await runCli(['subscriptions', 'get', ...url(), created.id, '-o', 'yaml']);
    expect(parseYaml(get.stdout)).toMatchObject({
      id: created.id,
      protocolsettings: { headers: { 'x-team': 'blue' } },
    });

    const paused = await runCli(['subscriptions', 'pause', ...url(), created.id, '-o', 'json']);
    expect(json<SubscriptionOut>(paused.stdout).status.state).toBe('paused');
    const resumed = await runCli(['subscriptions', 'resume', ...url(), created.id, '-o', 'table']);
    expect(resumed.stdout).toContain('active');

    const seek = await runCli(['subscriptions', 'seek', ...url(), created.id, '--to', '1', '-o', 'json']);
    expect(seek.code, seek.stderr).toBe(0);
    expect(json<SubscriptionOut>(seek.stdout).id).toBe(created.id);

    const deleted = await runCli(['subscriptions', 'delete', ...url(), created.id, '-o', 'json']);
    expect(deleted.code).toBe(0);
    const gone = await runCli(['subscriptions', 'get', ...url(), created.id, '-o', 'table']);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(
      `herald: the broker refused: 404 HERALD_NOT_FOUND: subscription '${created.id}' does not exist`,
    );
    // Piped without -o (JSON output), or with -o json or yaml: the broker's problem+json document.
    for (const output of [[], ['-o', 'json'], ['-o', 'yaml']]) {
      const problem = await runCli(['subscriptions', 'get', ...url(), created.id, ...output]);
      expect(problem.code).toBe(1);
      expect(JSON.parse(problem.stderr)).toEqual({
        type: 'https://herald.dev/errors/HERALD_NOT_FOUND',
        title: 'Not found',
        status: 404,
        detail: `subscription '${created.id}' does not exist`,
        code: 'HERALD_NOT_FOUND',
      });
    }
  });

  it('lists dead letters and redrives them', async () => {
    await env.sink.configure({ status: 400 });
    try {
      const sub = await createSubscription('--type', 'com.example.dead', '--retry', '0');
      const publish = await runCli([
        'publish',
        ...url(),
        '--type',
        'com.example.dead',
        '--source',
        '/dead',
        '--id',
        'dead-1',
      ]);
      expect(publish.code).toBe(0);
      let letters: Array<{ id: string; event: { id: string } }> = [];
      for (let i = 0; i < 200 && letters.length === 0; i++) {
        const list = await runCli(['deadletters', 'list', ...url(), sub.id, '-o', 'json']);
        letters = json(list.stdout);
        if (letters.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(letters.map((l) => l.event.id)).toEqual(['dead-1']);
      const table = await runCli(['deadletters', 'list', ...url(), sub.id, '-o', 'table']);
      expect(table.stdout).toMatch(/^ID\s+SEQUENCE\s+ATTEMPTS\s+AT\s+ERROR\s+TYPE\s+EVENT ID/);
      expect(table.stdout).toContain('HERALD_SINK_REJECTED');
      const yaml = await runCli(['deadletters', 'list', ...url(), sub.id, '--limit', '1', '-o', 'yaml']);
      expect((parseYaml(yaml.stdout) as unknown[]).length).toBe(1);

      await env.sink.configure({ status: 200 });
      const redrive = await runCli([
        'deadletters',
        'redrive',
        ...url(),
        sub.id,
        '--id',
        letters[0]!.id,
        '--wait',
        '-o',
        'json',
      ]);
      expect(redrive.code, redrive.stderr).toBe(0);
      expect(json(redrive.stdout)).toEqual({ subscription: sub.id, redriving: 1 });
      await env.sink.waitFor((records) => records.filter((r) => r.headers['ce-id'] === 'dead-1').length >= 2);

      const unknown = await runCli([
        'deadletters',
        'redrive',
        ...url(),
        sub.id,
        '--id',
        'no-such-letter',
        '-o',
        'table',
      ]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("HERALD_NOT_FOUND: no dead letter with id 'no-such-letter' (at /ids)");
      await runCli(['subscriptions', 'delete', ...url(), sub.id]);
    } finally {
      await env.sink.configure({ status: 200 });
    }
  });
});

describe('every subscription command in every output format', () => {
  const parsers: Record<string, (text: string) => unknown> = {
    json: (text) => JSON.parse(text),
    yaml: (text) => parseYaml(text),
  };
  it.each(['json', 'yaml', 'table'])('-o %s', async (format) => {
    const created = await createSubscription('--type', `com.example.format.${format}`);
    for (const args of [
      ['subscriptions', 'create', '--sink', env.sink.url, '--type', 'x'],
      ['subscriptions', 'get', created.id],
      ['subscriptions', 'pause', created.id],
      ['subscriptions', 'resume', created.id],
      ['subscriptions', 'seek', created.id, '--to', 'latest'],
      ['subscriptions', 'delete', created.id],
    ]) {
      const exit = await runCli([...args, ...url(), '-o', format]);
      expect(exit.code, `${args.join(' ')}: ${exit.stderr}`).toBe(0);
      let id: string;
      if (format === 'table') {
        expect(exit.stdout).toMatch(
          /^ID\s+STATE\s+CURSOR\s+LAG\s+DEAD\s+SINK\s+FILTER\n\S+\s+(active|paused)/,
        );
        id = exit.stdout.split('\n')[1]!.split(/\s+/)[0]!;
      } else {
        const parsed = parsers[format]!(exit.stdout) as SubscriptionOut;
        expect(parsed.sink, args.join(' ')).toBe(env.sink.url);
        id = parsed.id;
      }
      if (args[1] === 'create')
        expect((await runCli(['subscriptions', 'delete', ...url(), id])).code).toBe(0);
      else expect(id).toBe(created.id);
    }
  });

  it('tail in table and yaml form', async () => {
    for (const id of ['tail-form-1', 'tail-form-2']) {
      await runCli(['publish', ...url(), '--type', 't', '--source', '/tail-form', '--id', id]);
    }
    const table = await runCli(['tail', ...url(), '--from', 'earliest', '--limit', '2', '-o', 'table']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SEQUENCE\s+TIME\s+TYPE\s+SOURCE\s+ID\s+SUBJECT$/);
    expect(lines).toHaveLength(3);
    const yaml = await runCli(['tail', ...url(), '--from', 'earliest', '--limit', '2', '-o', 'yaml']);
    const documents = yaml.stdout.split(/^---$/m).filter((d) => d.trim() !== '');
    expect(documents.map((d) => (parseYaml(d) as { sequence: number }).sequence)).toHaveLength(2);
  });
});

describe('herald status', () => {
  it('shows the log size and rates in every format', async () => {
    const out = await runCli(['status', ...url(), '--interval', '200', '-o', 'json']);
    expect(out.code, out.stderr).toBe(0);
    const status = json<Record<string, number>>(out.stdout);
    expect(status['logEvents']).toBeGreaterThan(0);
    expect(status['lastSequence']).toBeGreaterThan(0);
    expect(status).toHaveProperty('publishRate');
    expect(status).toHaveProperty('totalLag');
    const yaml = await runCli(['status', ...url(), '--interval', '100', '-o', 'yaml']);
    expect(parseYaml(yaml.stdout)).toHaveProperty('logBytes');
    const table = await runCli(['status', ...url(), '--interval', '100', '-o', 'table']);
    expect(table.stdout).toMatch(/log\s+\d+ events/);
  });
});

describe('bad input: one clear line and the exit code', () => {
  it('an unreachable broker: exit 1', async () => {
    const [port] = await freePorts(1);
    const closed = `http://127.0.0.1:${port}`;
    for (const args of [
      ['subscriptions', 'list'],
      ['publish', '--type', 't', '--source', '/s'],
      ['status'],
      ['match', '--event', '{"specversion":"1.0","id":"1","source":"/s","type":"t"}'],
      ['deadletters', 'list', 'x'],
    ]) {
      const exit = await runCli([...args, '--url', closed]);
      expect(exit.code, args.join(' ')).toBe(1);
      expect(exit.stderr.trim()).toBe(`herald: cannot reach the broker at ${closed}: ECONNREFUSED`);
    }
  });

  it('HERALD_URL is honoured like --url', async () => {
    const exit = await runCli(['subscriptions', 'list'], { env: { HERALD_URL: 'http://127.0.0.1:1' } });
    expect(exit.stderr).toContain('http://127.0.0.1:1');
  });

  it('a refused request prints the problem with its code and pointer: exit 1', async () => {
    const exit = await runCli([
      'subscriptions',
      'create',
      ...url(),
      '--sink',
      'ftp://nowhere',
      '-o',
      'table',
    ]);
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim()).toMatch(
      /^herald: the broker refused: 400 HERALD_INVALID_SINK: sink: .* \(at \/sink\)$/,
    );
  });

  it('an invalid CESQL filter shows its position', async () => {
    const tail = await runCli(['tail', ...url(), '--filter', "type = 'a' AND"]);
    expect(tail.code).toBe(2);
    expect(tail.stderr.trim()).toMatch(/^herald: --filter is not valid CESQL: .* at line 1, column \d+$/);
    const create = await runCli([
      'subscriptions',
      'create',
      ...url(),
      '--sink',
      env.sink.url,
      '--filter',
      'a ==',
      '-o',
      'table',
    ]);
    expect(create.code).toBe(1);
    expect(create.stderr.trim()).toMatch(
      /^herald: the broker refused: 400 HERALD_INVALID_FILTER: invalid CESQL expression: .* at line 1, column \d+ \(at \/filters\/0\/sql\)$/,
    );
  });

  it('an unknown subscription id: exit 1 for every command that takes one', async () => {
    for (const args of [
      ['subscriptions', 'get', 'nope'],
      ['subscriptions', 'delete', 'nope'],
      ['subscriptions', 'pause', 'nope'],
      ['subscriptions', 'resume', 'nope'],
      ['subscriptions', 'seek', 'nope', '--to', 'earliest'],
      ['deadletters', 'list', 'nope'],
      ['deadletters', 'redrive', 'nope'],
    ]) {
      const exit = await runCli([...args, ...url(), '-o', 'table']);
      expect(exit.code, args.join(' ')).toBe(1);
      expect(exit.stderr.trim()).toBe(
        "herald: the broker refused: 404 HERALD_NOT_FOUND: subscription 'nope' does not exist",
      );
    }
  });

  it('bad usage: exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['publish', ...url()], /publish needs --type and --source/],
      [['publish', ...url(), '--type', 't', '--source', '/s', '--ext', 'novalue'], /--ext takes name=value/],
      [
        ['publish', ...url(), '--type', 't', '--source', '/s', '--ext', 'type=other'],
        /--ext type: not an extension attribute \(its flag: --type\)/,
      ],
      [['publish', ...url(), '--type', 't', '--source', '/s', '--ext', 'ID=x'], /--ext ID: not an extension/],
      [['publish', ...url(), '--type', 'T', '--source', '/s', '--id', ''], /invalid event: HERALD_/],
      [['subscriptions', 'seek', 'x', ...url(), '--to', 'yesterday'], /--to must be earliest, latest/],
      [['subscriptions', 'list', '-o', 'xml'], /argument 'xml' is invalid/],
      [['tail', '--from', 'soon'], /--from must be earliest, latest/],
      [['match', '--event', '{not json'], /--event is not valid JSON/],
      [['subscriptions', 'bogus'], /unknown command 'bogus'/],
      [['completion', 'fish'], /unknown shell "fish"/],
      [['operator', '--log-level', 'loud'], /--log-level must be trace, debug, info/],
      [['manifests', '--imgae', 'x'], /Unknown option '--imgae'/],
      [
        ['publish', '--file', path.join(dir, 'missing.ndjson')],
        /--file: cannot read .*missing.ndjson: ENOENT/,
      ],
    ];
    for (const [args, message] of cases) {
      const exit = await runCli(args);
      expect(exit.code, args.join(' ')).toBe(2);
      expect(exit.stderr, args.join(' ')).toMatch(message);
      expect(exit.stdout, args.join(' ')).not.toContain('apiVersion');
    }
  });
});

describe('help and completion', () => {
  it('every command has --help with examples', async () => {
    const commands = [
      [],
      ['publish'],
      ['tail'],
      ['subscriptions'],
      ['subscriptions', 'list'],
      ['subscriptions', 'get'],
      ['subscriptions', 'create'],
      ['subscriptions', 'delete'],
      ['subscriptions', 'pause'],
      ['subscriptions', 'resume'],
      ['subscriptions', 'seek'],
      ['deadletters'],
      ['deadletters', 'list'],
      ['deadletters', 'redrive'],
      ['match'],
      ['status'],
      ['completion'],
      ['broker'],
      ['operator'],
      ['manifests'],
      ['cesql'],
    ];
    // Four at a time: each is a Node process start, slow on two busy cores.
    for (let i = 0; i < commands.length; i += 4) {
      const group = commands.slice(i, i + 4);
      const exits = await Promise.all(group.map((args) => runCli([...args, '--help'])));
      exits.forEach((exit, j) => {
        const args = group[j] ?? [];
        expect(exit.code, args.join(' ')).toBe(0);
        expect(exit.stdout, args.join(' ')).toContain('Examples:\n  $ herald');
      });
    }
  }, 180_000);

  it('bash completion completes commands, subcommands, options and -o values', async () => {
    const script = await runCli(['completion', 'bash']);
    expect(script.code).toBe(0);
    const file = path.join(dir, 'herald.bash');
    writeFileSync(file, script.stdout);
    const complete = async (...words: string[]) => {
      const { execFileSync } = await import('node:child_process');
      const line = `source ${file}; COMP_WORDS=(herald ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _herald; echo "\${COMPREPLY[*]}"`;
      return execFileSync('bash', ['-c', line], { encoding: 'utf8' }).trim();
    };
    expect(await complete('sub')).toBe('subscriptions');
    expect(await complete('subscriptions', 'se')).toBe('seek');
    expect((await complete('publish', '--con')).split(' ')).toContain('--continue-on-error');
    expect(await complete('tail', '-o', 'ya')).toBe('yaml');
    expect((await complete('broker', '--data-')).split(' ')).toContain('--data-dir');
  });

  it('zsh completion is generated', async () => {
    const script = await runCli(['completion', 'zsh']);
    expect(script.code).toBe(0);
    expect(script.stdout).toMatch(/^#compdef herald/);
    expect(script.stdout).toContain('"subscriptions") echo "list get create delete pause resume seek"');
  });
});

describe('credentials and refusals by an authenticating broker', () => {
  it('sends the token as a bearer token and prints 401 and 403 problems readably', async () => {
    // A stand-in for the broker's authentication (built in parallel): it records the header and answers
    // the problems the contract names (architecture §7).
    const { createServer } = await import('node:http');
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const forbidden = req.headers.authorization === 'Bearer reader-token';
      const problem = forbidden
        ? {
            title: 'Forbidden',
            status: 403,
            code: 'HERALD_FORBIDDEN',
            detail: "principal 'reader' may not subscribe",
          }
        : {
            title: 'Unauthenticated',
            status: 401,
            code: 'HERALD_UNAUTHENTICATED',
            detail: 'authentication required',
          };
      res.writeHead(problem.status, {
        'content-type': 'application/problem+json',
        'www-authenticate': 'Bearer',
      });
      res.end(JSON.stringify(problem));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const anonymous = await runCli(['subscriptions', 'list', '--url', at, '-o', 'table']);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr.trim()).toBe(
        'herald: the broker refused: 401 HERALD_UNAUTHENTICATED: authentication required — pass a token with --token or HERALD_TOKEN',
      );
      const reader = await runCli(['subscriptions', 'list', '--url', at, '-o', 'table'], {
        env: { HERALD_TOKEN: 'reader-token' },
      });
      expect(reader.code).toBe(1);
      expect(reader.stderr.trim()).toBe(
        "herald: the broker refused: 403 HERALD_FORBIDDEN: principal 'reader' may not subscribe — the token is not allowed to do this",
      );
      await runCli(['publish', '--url', at, '--token', 'flag-token', '--type', 't', '--source', '/s']);
      expect(seen).toEqual([undefined, 'Bearer reader-token', 'Bearer flag-token']);
    } finally {
      server.close();
    }
  });
});

describe('on a terminal', () => {
  /** Runs the CLI under a pseudo-terminal (util-linux `script`); stdout and stderr arrive merged. */
  async function onTerminal(args: string, env: Record<string, string> = {}): Promise<string> {
    const { execFileSync } = await import('node:child_process');
    const { CLI } = await import('../harness/processes.js');
    const environment: Record<string, string | undefined> = { ...process.env, TERM: 'xterm', ...env };
    if (env['NO_COLOR'] === undefined) delete environment['NO_COLOR'];
    return execFileSync('script', ['-qec', `${process.execPath} ${CLI} ${args}`, '/dev/null'], {
      encoding: 'utf8',
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
  }

  it('defaults to a coloured table, and NO_COLOR turns colours off', async () => {
    const sub = await createSubscription('--type', 'com.example.tty');
    try {
      const coloured = await onTerminal(`subscriptions list --url ${env.broker.url}`);
      expect(coloured).toContain('\u001b[1mID ');
      expect(coloured).toContain(`\u001b[32mactive`);
      const plain = await onTerminal(`subscriptions list --url ${env.broker.url}`, { NO_COLOR: '1' });
      expect(plain).toMatch(/^ID\s+STATE\s+CURSOR/);
      expect(plain).not.toContain('\u001b[');
    } finally {
      await runCli(['subscriptions', 'delete', ...url(), sub.id]);
    }
  });

  it('draws a catch-up progress bar for tail --from earliest when the events go to a file', async () => {
    for (let i = 0; i < 5; i++) {
      await runCli(['publish', ...url(), '--type', 't', '--source', '/catch-up', '--id', `catch-up-${i}`]);
    }
    const out = path.join(dir, 'tail-out.ndjson');
    const output = await onTerminal(`tail --url ${env.broker.url} --from earliest --limit 5 > ${out}`, {
      NO_COLOR: '1',
    });
    expect(output).toMatch(/\r\[[#.]{30}\] \d+% \d+\/\d+ events/);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('draws a progress bar while publishing a file', async () => {
    const file = path.join(dir, 'progress.ndjson');
    writeFileSync(
      file,
      Array.from({ length: 3000 }, (_, i) =>
        JSON.stringify({ specversion: '1.0', id: `progress-${i}`, source: '/progress', type: 't' }),
      ).join('\n'),
    );
    const output = await onTerminal(`publish --url ${env.broker.url} --file ${file}`, { NO_COLOR: '1' });
    expect(output).toMatch(/\r\[#{30}\] 100% 3000\/3000 events \d+\/s/);
    expect(output).toMatch(/PUBLISHED\s+INVALID\s+FAILED\s+3000\s+0\s+0/);
  });
});
