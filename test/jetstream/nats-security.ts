// Fixtures for NATS servers that require authentication or TLS: certificates made with openssl,
// NKeys and an operator-mode JWT chain made with @nats-io/jwt. Everything lives in one temporary
// directory that `remove()` deletes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
} from '@nats-io/jwt';

export interface Certificates {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing here: trusting it instead of `ca` must fail the handshake. */
  readonly otherCa: string;
}

export class SecurityFixtures {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'herald-nats-security-'));

  file(name: string, content?: string | Uint8Array): string {
    const at = path.join(this.dir, name);
    if (content !== undefined) writeFileSync(at, content, { mode: 0o600 });
    return at;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A private CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it. */
  certificates(): Certificates {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const ca = (name: string) =>
      openssl(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        this.file(`${name}.key`),
        '-out',
        this.file(`${name}.pem`),
        '-days',
        '1',
        '-subj',
        `/CN=Herald test ${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      );
    ca('ca');
    ca('other-ca');
    const leaf = (name: string, cn: string, extensions: string) => {
      openssl(
        'req',
        ...ec,
        '-keyout',
        this.file(`${name}.key`),
        '-out',
        this.file(`${name}.csr`),
        '-subj',
        `/CN=${cn}`,
      );
      this.file(`${name}.cnf`, extensions);
      openssl(
        'x509',
        '-req',
        '-in',
        this.file(`${name}.csr`),
        '-CA',
        this.file('ca.pem'),
        '-CAkey',
        this.file('ca.key'),
        '-CAcreateserial',
        '-out',
        this.file(`${name}.pem`),
        '-days',
        '1',
        '-extfile',
        this.file(`${name}.cnf`),
      );
    };
    leaf(
      'server',
      '127.0.0.1',
      'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    leaf('client', 'herald-broker', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
    return {
      ca: this.file('ca.pem'),
      serverCert: this.file('server.pem'),
      serverKey: this.file('server.key'),
      clientCert: this.file('client.pem'),
      clientKey: this.file('client.key'),
      otherCa: this.file('other-ca.pem'),
    };
  }

  /** An NKey user: the server configuration that admits it and the file holding its seed. */
  nkeyUser(): { config: string; seedFile: string } {
    const user = createUser();
    return {
      config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }`,
      seedFile: this.file('user.nk', new TextDecoder().decode(user.getSeed())),
    };
  }

  /**
   * Operator mode (decentralised JWT auth): an operator, a system account, an account with JetStream
   * and a user of that account, whose credentials file is what `nsc` would write.
   */
  async operatorMode(): Promise<{ config: string; credsFile: string; strangerCredsFile: string }> {
    const operator = createOperator();
    const system = createAccount();
    const account = createAccount();
    const unlimited = { subs: -1, data: -1, payload: -1 };
    const operatorJwt = await encodeOperator('herald-test', operator, {
      system_account: system.getPublicKey(),
    });
    const accountJwt = await encodeAccount(
      'herald',
      account,
      {
        limits: {
          ...unlimited,
          conn: -1,
          leaf: -1,
          imports: -1,
          exports: -1,
          wildcards: true,
          mem_storage: -1,
          disk_storage: -1,
          streams: -1,
          consumer: -1,
        },
      },
      { signer: operator },
    );
    const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator });
    const user = createUser();
    const userJwt = await encodeUser('broker', user, account, unlimited);
    // A user signed by an account the server does not know: well-formed, but not trusted.
    const strangerAccount = createAccount();
    const stranger = createUser();
    const strangerJwt = await encodeUser('stranger', stranger, strangerAccount, unlimited);
    return {
      config: [
        `operator: ${operatorJwt}`,
        `system_account: ${system.getPublicKey()}`,
        'resolver: MEMORY',
        'resolver_preload: {',
        `  ${account.getPublicKey()}: ${accountJwt}`,
        `  ${system.getPublicKey()}: ${systemJwt}`,
        '}',
      ].join('\n'),
      credsFile: this.file('broker.creds', fmtCreds(userJwt, user)),
      strangerCredsFile: this.file('stranger.creds', fmtCreds(strangerJwt, stranger)),
    };
  }
}

/** nats-server `tls { }` block requiring a client certificate signed by the test CA. */
export function tlsConfig(certs: Certificates): string {
  return [
    'tls {',
    `  cert_file: ${JSON.stringify(certs.serverCert)}`,
    `  key_file: ${JSON.stringify(certs.serverKey)}`,
    `  ca_file: ${JSON.stringify(certs.ca)}`,
    '  verify: true',
    '}',
  ].join('\n');
}
