import { JetStreamApiError } from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../../config/index.js';
import { natsConnectOptions, natsSecurityFromConfig } from './nats-connect-options.js';
import { connectFailure, setUpFailure } from './not-ready.js';

describe('natsConnectOptions', () => {
  it('takes credentials and the scheme out of the URLs, and keeps them out of what is logged', () => {
    const target = natsConnectOptions('nats://herald:s3cret@n1:4222, tls://herald:s3cret@n2:4222');
    expect(target.servers).toEqual(['n1:4222', 'n2:4222']);
    expect(target.redacted).toEqual(['nats://***@n1:4222', 'tls://***@n2:4222']);
    expect(typeof target.options.authenticator).toBe('function');
    expect(target.options.tls).toBeDefined();
    expect(JSON.stringify(target)).not.toContain('s3cret');
  });

  it('asks for nothing it was not given: no authenticator, TLS only if the server offers it', () => {
    const target = natsConnectOptions('nats://127.0.0.1:4222');
    expect(target.options.authenticator).toBeUndefined();
    expect(target.options.tls).toBeUndefined();
    expect(target.security).toEqual({ tls: false, clientCertificate: false });
  });

  it('maps the TLS files to the client options', () => {
    const target = natsConnectOptions('n1:4222', { tls: { ca: '/ca.pem', cert: '/c.pem', key: '/k.pem' } });
    expect(target.options.tls).toMatchObject({ caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' });
    expect(target.security).toEqual({ tls: true, clientCertificate: true });
  });
});

describe('natsSecurityFromConfig', () => {
  it('refuses an unreadable file at start, naming the flag', () => {
    const config = loadBrokerConfig(
      [
        '--store',
        'jetstream',
        '--nats-url',
        'nats://n1:4222',
        '--nats-creds-file',
        '/nonexistent/herald.creds',
      ],
      {},
    );
    expect(() => natsSecurityFromConfig(config)).toThrow(
      /--nats-creds-file: cannot read \/nonexistent\/herald.creds/,
    );
  });

  it('passes the credentials from the URL on', () => {
    const config = loadBrokerConfig(['--store', 'jetstream', '--nats-url', 'nats://herald:pw@n1:4222'], {});
    expect(natsSecurityFromConfig(config)).toEqual({ user: { name: 'herald', password: 'pw' } });
  });
});

describe('why the store is not ready', () => {
  it.each([
    [new errors.AuthorizationError('Authorization Violation'), 'nats-authorization'],
    [
      new errors.ConnectionError('connection refused', {
        cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
      }),
      'nats-unreachable',
    ],
    [
      Object.assign(new Error('unable to verify the first certificate'), {
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      }),
      'nats-tls',
    ],
    [new errors.ConnectionError("server does not support 'tls'"), 'nats-tls'],
    [
      Object.assign(new Error("ENOENT: no such file, open '/run/tls/herald.creds'"), { code: 'ENOENT' }),
      'nats-authorization',
    ],
  ])('connecting: %s is %s', (error, cause) => {
    expect(connectFailure(error).cause).toBe(cause);
  });

  it('names --stream-replicas when JetStream cannot place the replicas, and only then', () => {
    const error = new JetStreamApiError({
      code: 500,
      err_code: 10074,
      description: 'replicas > 1 not supported in non-clustered mode',
    });
    const reason = setUpFailure(error, 3);
    expect(reason.cause).toBe('stream-replicas');
    expect(reason.detail).toContain('--stream-replicas 3');
    expect(setUpFailure(new Error('nats-server 2.10.0 is too old: …'), 1).cause).toBe('nats-server-version');
    expect(setUpFailure(new Error('something else'), 3).cause).toBe('jetstream-setup');
  });
});
