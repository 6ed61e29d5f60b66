import { describe, expect, it } from 'vitest';
import { configProblems } from './testing/config-problems.js';
import { loadBrokerConfig } from './load.js';
import { parseNatsUrls, redactNatsUrls } from './nats-url.js';

const problems = configProblems;

const JETSTREAM = ['--store', 'jetstream', '--nats-url', 'nats://127.0.0.1:4222'];

describe('--stream-replicas', () => {
  it.each([1, 3, 5])('accepts %d', (replicas) => {
    expect(loadBrokerConfig([...JETSTREAM, '--stream-replicas', String(replicas)], {}).streamReplicas).toBe(
      replicas,
    );
  });

  it.each(['0', '2', '4', '6'])('refuses %s with the reason', (replicas) => {
    const found = problems([...JETSTREAM, '--stream-replicas', replicas]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^--stream-replicas: must be 1, 3 or 5/);
  });

  it('names the environment variable a bad value came from', () => {
    expect(problems(JETSTREAM, { HERALD_STREAM_REPLICAS: '2' })[0]).toContain(
      '(from HERALD_STREAM_REPLICAS)',
    );
  });
});

describe('NATS credentials and TLS settings', () => {
  it('reads user and password from flags and the environment', () => {
    const config = loadBrokerConfig([...JETSTREAM, '--nats-user', 'herald'], { HERALD_NATS_PASSWORD: 'pw' });
    expect(config.nats.user).toEqual({ name: 'herald', password: 'pw' });
    expect(config.nats.servers).toEqual(['127.0.0.1:4222']);
    expect(config.nats.tls).toBeUndefined();
  });

  it('reads user and password, or a token, from the URL and keeps them out of the servers', () => {
    const user = loadBrokerConfig(
      ['--store', 'jetstream', '--nats-url', 'nats://herald:p%40ss@n1:4222,nats://herald:p%40ss@n2:4222'],
      {},
    ).nats;
    expect(user.user).toEqual({ name: 'herald', password: 'p@ss' });
    expect(user.servers).toEqual(['n1:4222', 'n2:4222']);
    expect(user.redactedServers).toEqual(['nats://***@n1:4222', 'nats://***@n2:4222']);
    const token = loadBrokerConfig(['--store', 'jetstream', '--nats-url', 'nats://s3cret@n1:4222'], {}).nats;
    expect(token.token).toBe('s3cret');
    expect(token.user).toBeUndefined();
    expect(loadBrokerConfig([...JETSTREAM], { HERALD_NATS_TOKEN: 'tok' }).nats.token).toBe('tok');
  });

  it('asks for TLS with --nats-tls (HERALD_NATS_TLS), and not otherwise', () => {
    expect(loadBrokerConfig([...JETSTREAM, '--nats-tls'], {}).nats.tls).toBeDefined();
    expect(loadBrokerConfig(JETSTREAM, { HERALD_NATS_TLS: 'true' }).nats.tls).toBeDefined();
    expect(loadBrokerConfig(JETSTREAM, {}).nats.tls).toBeUndefined();
  });

  it('asks for TLS for tls:// and for any TLS file', () => {
    expect(loadBrokerConfig(['--store', 'jetstream', '--nats-url', 'tls://n1:4222'], {}).nats.tls).toEqual({
      ca: undefined,
      cert: undefined,
      key: undefined,
    });
    expect(
      loadBrokerConfig(
        [...JETSTREAM, '--nats-ca', '/ca.pem', '--nats-cert', '/c.pem', '--nats-key', '/k.pem'],
        {},
      ).nats.tls,
    ).toEqual({ ca: '/ca.pem', cert: '/c.pem', key: '/k.pem' });
  });

  it('refuses two ways to authenticate, half a pair, and other schemes', () => {
    expect(problems([...JETSTREAM, '--nats-token', 't', '--nats-creds-file', '/x.creds'])[0]).toMatch(
      /one way to authenticate to NATS, not --nats-token and --nats-creds-file/,
    );
    expect(
      problems([
        '--store',
        'jetstream',
        '--nats-url',
        'nats://u:p@n1:4222',
        '--nats-nkey-seed-file',
        '/s.nk',
      ]),
    ).toHaveLength(1);
    expect(problems([...JETSTREAM, '--nats-user', 'herald'])[0]).toMatch(
      /--nats-user and --nats-password go together/,
    );
    expect(problems([...JETSTREAM, '--nats-cert', '/c.pem'])[0]).toMatch(
      /--nats-cert and --nats-key go together/,
    );
    expect(problems(['--store', 'jetstream', '--nats-url', 'http://n1:4222'])[0]).toMatch(
      /the scheme must be nats:\/\/ or tls:\/\//,
    );
    expect(
      problems(['--store', 'jetstream', '--nats-url', 'nats://a:one@n1:4222,nats://a:two@n2:4222'])[0],
    ).toMatch(/different credentials/);
  });

  it('never repeats a password or token in an error', () => {
    const found = problems(
      ['--store', 'jetstream', '--nats-url', 'http://herald:hunter2@n1:4222', '--nats-token', 'tok-hunter3'],
      { HERALD_NATS_PASSWORD: 'hunter4' },
    ).join('\n');
    expect(found).not.toMatch(/hunter/);
    expect(found).toContain('***@n1:4222');
  });
});

describe('parseNatsUrls', () => {
  it('takes host:port without a scheme as nats://', () => {
    expect(parseNatsUrls('127.0.0.1:4222, n2').servers).toEqual(['127.0.0.1:4222', 'n2']);
  });

  it('redacts user information anywhere in a text', () => {
    expect(redactNatsUrls('failed: tls://u:p@h:1 and nats://t@h:2')).toBe(
      'failed: tls://***@h:1 and nats://***@h:2',
    );
  });
});
