import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configProblems, yamlFiles } from './testing/config-problems.js';
import { BROKER_OPTIONS } from './schema.js';
import { brokerHelp, loadBrokerConfig } from './load.js';
import { parseDuration, parseSize } from './units.js';

const yamlFile = yamlFiles();

const problems = configProblems;

describe('loadBrokerConfig', () => {
  it('has documented defaults', () => {
    expect(loadBrokerConfig([], {})).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      adminPort: undefined,
      store: 'embedded',
      dataDir: './data',
      natsUrl: undefined,
      brokerName: 'default',
      kubernetes: false,
      namespace: undefined,
      logLevel: 'info',
      durability: 'fsync',
      heapSemiSpaceBytes: 16 * 1024 * 1024,
      maxEventSize: 1024 * 1024,
      maxRequestSize: 16 * 1024 * 1024,
      dedupeWindowMs: 120_000,
      retention: { maxAgeMs: 0, maxEvents: 0, maxBytes: 0 },
      ingressRateLimit: 0,
      shutdownTimeoutMs: 30_000,
    });
  });

  it('reads every option from flags', () => {
    const config = loadBrokerConfig(
      [
        '--port=9000',
        '--host',
        '127.0.0.1',
        '--admin-port',
        '9001',
        '--store',
        'jetstream',
        '--nats-url',
        'nats://a:4222,nats://b:4222',
        '--data-dir',
        '/tmp/x',
        '--broker-name',
        'orders',
        '--kubernetes',
        '--namespace',
        'ns',
        '--log-level',
        'debug',
        '--durability',
        'buffered',
        '--max-event-size',
        '64KiB',
        '--max-request-size',
        '2MB',
        '--dedupe-window',
        'PT1M30S',
        '--retention-max-age',
        '7d',
        '--retention-max-events',
        '1000',
        '--retention-max-bytes',
        '1GiB',
        '--ingress-rate-limit',
        '2.5',
        '--shutdown-timeout',
        '500ms',
      ],
      {},
    );
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      adminPort: 9001,
      store: 'jetstream',
      dataDir: '/tmp/x',
      natsUrl: 'nats://a:4222,nats://b:4222',
      brokerName: 'orders',
      kubernetes: true,
      namespace: 'ns',
      logLevel: 'debug',
      durability: 'buffered',
      maxEventSize: 65536,
      maxRequestSize: 2_000_000,
      dedupeWindowMs: 90_000,
      retention: { maxAgeMs: 7 * 86_400_000, maxEvents: 1000, maxBytes: 1024 ** 3 },
      ingressRateLimit: 2.5,
      shutdownTimeoutMs: 500,
    });
  });

  it("accepts a semi-space in whole MiB, and 0 for Node's own sizing", () => {
    expect(loadBrokerConfig(['--heap-semi-space', '4MiB'], {}).heapSemiSpaceBytes).toBe(4 * 1024 * 1024);
    expect(loadBrokerConfig([], { HERALD_HEAP_SEMI_SPACE: '0' }).heapSemiSpaceBytes).toBe(0);
  });

  it('accepts port 0 (a free port) for both ports', () => {
    expect(loadBrokerConfig(['--port', '0', '--admin-port', '0'], {})).toMatchObject({
      port: 0,
      adminPort: 0,
    });
  });

  it('reads HERALD_* environment variables, ignoring empty ones', () => {
    const config = loadBrokerConfig([], {
      HERALD_PORT: '7000',
      HERALD_DEDUPE_WINDOW: '1s',
      HERALD_DURABILITY: 'buffered',
      HERALD_KUBERNETES: 'true',
      HERALD_MAX_EVENT_SIZE: '',
    });
    expect(config).toMatchObject({
      port: 7000,
      dedupeWindowMs: 1000,
      durability: 'buffered',
      kubernetes: true,
    });
    expect(config.maxEventSize).toBe(1024 * 1024);
  });

  it('reads a YAML file given by --config or HERALD_CONFIG', () => {
    const file = yamlFile('port: 7100\ndedupe-window: 1s\nmax-event-size: 131072\ningress-rate-limit: 5\n');
    expect(loadBrokerConfig(['--config', file], {})).toMatchObject({
      port: 7100,
      dedupeWindowMs: 1000,
      maxEventSize: 131072,
      ingressRateLimit: 5,
    });
    expect(loadBrokerConfig([], { HERALD_CONFIG: file }).port).toBe(7100);
  });

  it('accepts an empty YAML file', () => {
    expect(loadBrokerConfig(['--config', yamlFile('')], {}).port).toBe(8080);
  });

  it('lets flags override the environment, and the environment override the file', () => {
    const file = yamlFile('port: 7200\ndedupe-window: 3s\nlog-level: warn\n');
    const env = { HERALD_PORT: '7300', HERALD_DEDUPE_WINDOW: '4s' };
    const config = loadBrokerConfig(['--config', file, '--port', '7400'], env);
    expect(config.port).toBe(7400);
    expect(config.dedupeWindowMs).toBe(4000);
    expect(config.logLevel).toBe('warn');
  });

  it.each<[string, readonly string[], NodeJS.ProcessEnv, string]>([
    ['a non-numeric port', ['--port', 'abc'], {}, '--port'],
    ['a port above 65535', ['--port', '70000'], {}, '--port'],
    ['a negative admin port', ['--admin-port', '-1'], {}, '--admin-port'],
    ['an event size under 64KiB', ['--max-event-size', '10'], {}, '--max-event-size'],
    ['a size without a unit it knows', ['--max-event-size', '1XB'], {}, '--max-event-size'],
    [
      'a request size under the event size',
      ['--max-event-size', '1MiB', '--max-request-size', '512KiB'],
      {},
      '--max-request-size',
    ],
    ['a semi-space that is not whole MiB', ['--heap-semi-space', '1500KiB'], {}, '--heap-semi-space'],
    ['a semi-space over 1GiB', ['--heap-semi-space', '2GiB'], {}, '--heap-semi-space'],
    ['an unknown store', ['--store', 'redis'], {}, '--store'],
    ['jetstream without a NATS URL', ['--store', 'jetstream'], {}, '--nats-url'],
    ['an admin port equal to the port', ['--port', '9000', '--admin-port', '9000'], {}, '--admin-port'],
    ['a broker name that is not a DNS label', ['--broker-name', 'Not_A_Label'], {}, '--broker-name'],
    ['a bad duration', ['--dedupe-window', 'soon'], {}, '--dedupe-window'],
    ['a bad log level', ['--log-level', 'loud'], {}, '--log-level'],
    ['a negative rate limit', ['--ingress-rate-limit', '-1'], {}, '--ingress-rate-limit'],
    [
      'a bad durability from the environment',
      [],
      { HERALD_DURABILITY: 'maybe' },
      '--durability (from HERALD_DURABILITY)',
    ],
    [
      'a bad boolean from the environment',
      [],
      { HERALD_KUBERNETES: 'yes' },
      '--kubernetes (from HERALD_KUBERNETES)',
    ],
    ['an unknown flag', ['--bogus', '1'], {}, '--bogus'],
    ['a positional argument', ['extra'], {}, 'extra'],
  ])('rejects %s, naming the option', (_name, argv, env, needle) => {
    const lines = problems(argv, env);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(needle);
  });

  it('reads boolean options as switches: --kubernetes on, --no-kubernetes off over the environment', () => {
    expect(loadBrokerConfig(['--kubernetes'], {}).kubernetes).toBe(true);
    expect(loadBrokerConfig(['--no-kubernetes'], { HERALD_KUBERNETES: 'true' }).kubernetes).toBe(false);
    expect(loadBrokerConfig(['--no-kafka-tls'], { HERALD_KAFKA_TLS: '1' }).kafka.tls).toBe(false);
  });

  it.each([[['--kubernetes', 'true']], [['--kubernetes=false']], [['--no-kubernetes', 'false']]])(
    'refuses a value after a switch (%j), saying how to write it',
    (argv) => {
      const lines = problems(argv);
      expect(lines).toEqual([
        '--kubernetes: a switch takes no value: write --kubernetes or --no-kubernetes (HERALD_KUBERNETES=true|false in the environment)',
      ]);
    },
  );

  it('caps TokenReviews in flight with --token-review-concurrency: 16 by default, at least 1', () => {
    expect(loadBrokerConfig([], {}).auth.tokenReviewConcurrency).toBe(16);
    expect(loadBrokerConfig(['--token-review-concurrency', '4'], {}).auth.tokenReviewConcurrency).toBe(4);
    expect(loadBrokerConfig([], { HERALD_TOKEN_REVIEW_CONCURRENCY: '2' }).auth.tokenReviewConcurrency).toBe(
      2,
    );
    for (const value of ['0', '1.5', 'many']) {
      const lines = problems(['--token-review-concurrency', value]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^--token-review-concurrency/);
    }
  });

  it('reports every problem at once, one line each', () => {
    const lines = problems(['--port', 'abc', '--max-event-size', '10'], { HERALD_DURABILITY: 'maybe' });
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.startsWith('--port'))).toBe(true);
    expect(lines.some((l) => l.startsWith('--max-event-size'))).toBe(true);
    expect(lines.some((l) => l.startsWith('--durability (from HERALD_DURABILITY)'))).toBe(true);
    for (const line of lines) expect(line).not.toContain('\n');
  });

  it('reports an unknown flag together with the other problems', () => {
    const lines = problems(['--bogus', '--port', 'abc'], { HERALD_DURABILITY: 'maybe' });
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.includes('--bogus'))).toBe(true);
    expect(lines.some((l) => l.startsWith('--port'))).toBe(true);
    expect(lines.some((l) => l.startsWith('--durability'))).toBe(true);
  });

  it('reports an unknown key and a bad value of a YAML file, naming the file', () => {
    const file = yamlFile('port: lots\ncolour: blue\n');
    const lines = problems(['--config', file], {});
    expect(lines).toHaveLength(2);
    expect(lines).toContainEqual(expect.stringContaining(`${file}: unknown option 'colour'`));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^--port \\(from ${file}\\)`)));
  });

  it('reports a missing or unparsable YAML file and a non-mapping document', () => {
    expect(problems(['--config', path.join(path.dirname(yamlFile('')), 'missing.yaml')], {})[0]).toContain(
      'missing.yaml',
    );
    expect(problems(['--config', yamlFile('port: [1,\n')], {})).toHaveLength(1);
    expect(problems(['--config', yamlFile('- port\n')], {})[0]).toContain('must be a YAML mapping');
  });
});

describe('brokerHelp', () => {
  it('lists every option with its environment variable', () => {
    const help = brokerHelp();
    for (const option of BROKER_OPTIONS) {
      const env = `HERALD_${option.name.toUpperCase().replaceAll('-', '_')}`;
      if (option.kind === 'boolean') {
        // A switch shows no value: `--kubernetes <boolean>` read as if `--kubernetes true` worked.
        expect(help).toContain(`--${option.name}, --no-${option.name} `);
        expect(help).toContain(`[${env}=true|false]`);
        expect(help).not.toContain(`--${option.name} <`);
      } else {
        expect(help).toContain(`--${option.name} <${option.kind}>`);
        expect(help).toContain(`[${env}]`);
      }
    }
    expect(help).toContain('--config');
  });
});

describe('units', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['PT2M', 120_000],
    ['PT0.5S', 500],
    ['P1DT12H', 129_600_000],
    ['P1D', 86_400_000],
  ])('parseDuration(%j) = %d', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', 'P1DT', '2', '2 m', 'soon', '-1s', 'PT1H2'])(
    'parseDuration(%j) is undefined',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );

  it.each([
    ['65536', 65536],
    ['64KiB', 65536],
    ['1MiB', 1_048_576],
    ['1 MiB', 1_048_576],
    ['2MB', 2_000_000],
    ['1GiB', 1024 ** 3],
    ['10B', 10],
  ])('parseSize(%j) = %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'big', '1.5MiB', '-1', '1XB', '1mib'])('parseSize(%j) is undefined', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});
