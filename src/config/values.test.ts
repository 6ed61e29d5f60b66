import { describe, expect, it } from 'vitest';
import { configProblems, yamlFiles } from './testing/config-problems.js';
import { loadBrokerConfig } from './load.js';

// Values that were accepted and then meant something else than what was written.

const yamlFile = yamlFiles();

const problems = configProblems;

describe('durations that are timer delays', () => {
  // Node runs a setTimeout/setInterval longer than 2^31-1 ms (24.8 days) after 1 ms: --shutdown-timeout 25d
  // reset every in-flight request at SIGTERM, --log-write-timeout 25d destroyed every log read at once.
  it.each([
    ['shutdown-timeout', '25d', '24d'],
    ['log-write-timeout', '25d', '24d'],
    ['stream-auth-recheck', '25d', '24d'],
    // Waited for twice over (and a second more) by the Kafka client.
    ['kafka-request-timeout', '13d', '12d'],
  ])('refuses --%s %s, naming it, and takes %s', (name, tooLong, longest) => {
    const lines = problems([`--${name}`, tooLong]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`--${name}`);
    expect(lines[0]).toContain('at most');
    expect(() => loadBrokerConfig([`--${name}`, longest], {})).not.toThrow();
  });

  it('refuses one too long from the environment too, naming the variable', () => {
    const lines = problems([], { HERALD_SHUTDOWN_TIMEOUT: 'P30D' });
    expect(lines).toEqual([expect.stringContaining('--shutdown-timeout (from HERALD_SHUTDOWN_TIMEOUT)')]);
  });

  it('still takes ages far longer than a timer (retention and dead-letter ages are not timers)', () => {
    const config = loadBrokerConfig(['--retention-max-age', '365d', '--dead-letter-max-age', '90d'], {});
    expect(config.retention.maxAgeMs).toBe(365 * 86_400_000);
    expect(config.deadLetterLimits.maxAgeMs).toBe(90 * 86_400_000);
  });
});

describe('--keep-alive-timeout', () => {
  // Node reads a keepAliveTimeout of 0 as "never": an idle connection then stayed open for as long as its
  // client liked (seen on a real broker: still open after 4 s, closed after ~2 s with 1s), filling
  // --max-connections, while --headers-timeout and --request-timeout refuse less than 1s.
  it.each(['0', '500ms'])('refuses %s, naming it', (value) => {
    const lines = problems(['--keep-alive-timeout', value]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--keep-alive-timeout');
  });

  it('takes 1s and more', () => {
    expect(loadBrokerConfig(['--keep-alive-timeout', '1s'], {}).limits.keepAliveTimeoutMs).toBe(1000);
  });
});

describe('a duration in a YAML file', () => {
  // `30` on the command line is refused (no unit); the same 30 in a YAML file was taken as 30 ms.
  it.each([
    ['shutdown-timeout: 30', '--shutdown-timeout'],
    ['dedupe-window: 300', '--dedupe-window'],
    ['log-write-timeout: 1.5', '--log-write-timeout'],
  ])('refuses a number without a unit (%s), naming the option and the file', (yaml, option) => {
    const file = yamlFile(`${yaml}\n`);
    const lines = problems(['--config', file]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${option} (from ${file})`);
    expect(lines[0]).toContain('unit');
  });

  it('takes 0 and durations with a unit', () => {
    const config = loadBrokerConfig(['--config', yamlFile('dedupe-window: 0\nshutdown-timeout: 45s\n')], {});
    expect(config.dedupeWindowMs).toBe(0);
    expect(config.shutdownTimeoutMs).toBe(45_000);
  });
});

describe('numeric options', () => {
  // Number("") and Number(null) are 0: `--max-subscriptions=` (a template's empty value) or a YAML key
  // left without a value meant "unlimited", and `--port=` a random port.
  it.each([
    [['--max-subscriptions='], '--max-subscriptions'],
    [['--port='], '--port'],
    [['--retention-max-events', ''], '--retention-max-events'],
    [['--ingress-rate-limit='], '--ingress-rate-limit'],
    [['--max-connections', '0x10'], '--max-connections'],
    [['--max-streams', '1e3'], '--max-streams'],
  ])('refuses %j, naming the option', (argv, option) => {
    const lines = problems(argv);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(option);
  });

  it.each([
    ['max-subscriptions:', '--max-subscriptions'],
    ['port: ""', '--port'],
    ['max-connections: true', '--max-connections'],
    ['ingress-rate-limit: []', '--ingress-rate-limit'],
  ])('refuses a YAML value that is not a number (%s)', (yaml, option) => {
    const file = yamlFile(`${yaml}\n`);
    const lines = problems(['--config', file]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${option} (from ${file})`);
  });

  it('takes decimal numbers from flags, the environment and YAML', () => {
    const file = yamlFile('max-streams: 7\nevent-types-rate: 2.5\nport: "7100"\n');
    const config = loadBrokerConfig(['--config', file, '--max-subscriptions', '12'], {
      HERALD_INGRESS_RATE_LIMIT: '0.5',
      HERALD_MAX_CONNECTIONS: ' 99 ',
    });
    expect(config.port).toBe(7100);
    expect(config.limits.maxStreams).toBe(7);
    expect(config.eventTypes.rate).toBe(2.5);
    expect(config.maxSubscriptionsPerPrincipal).toBe(12);
    expect(config.ingressRateLimit).toBe(0.5);
    expect(config.limits.maxConnections).toBe(99);
  });
});
