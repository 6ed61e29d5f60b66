// Acceptance (#10 TLS): --tls-cert/--tls-key serve HTTPS on every listener, and a renewed certificate
// (as cert-manager writes it) is served without a restart. Certificates are made at run time with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../infra/process.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { sleep } from '../support/http.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-tls-'));
const file = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

/** A CA, and a server certificate for 127.0.0.1 signed by it, written as `<name>.crt` / `<name>.key`. */
function issue(name: string, cn: string): void {
  openssl(
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file(`${name}.key`),
    '-subj',
    `/CN=${cn}`,
    '-out',
    file(`${name}.csr`),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    file(`${name}.crt`),
    '-extfile',
    file('san.ext'),
  );
}

let broker: BrokerProcess;
beforeAll(async () => {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=herald-test-ca',
  );
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > ${file('san.ext')}`]);
  issue('first', 'herald-first');
  // The broker reads the live paths; rotation replaces them the way a mounted secret changes.
  renameSync(file('first.crt'), file('tls.crt'));
  renameSync(file('first.key'), file('tls.key'));
  broker = await startBroker({
    args: [
      '--admin-port',
      String(await freePort()),
      '--tls-cert',
      file('tls.crt'),
      '--tls-key',
      file('tls.key'),
    ],
  });
});
afterAll(async () => {
  await broker?.stop();
  if (broker !== undefined) removeDir(broker.dataDir);
  removeDir(dir);
});

const ca = () => readFileSync(file('ca.crt'));

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: ca(), agent: new Agent({ keepAlive: false }) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function servedCommonName(url: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), ca: ca() }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  it('serves HTTPS with the given certificate on the data and admin ports, and no plain HTTP', async () => {
    expect(broker.url.startsWith('https://')).toBe(true);
    expect((await get(`${broker.adminUrl}/healthz`)).status).toBe(200);
    expect(await servedCommonName(broker.url)).toBe('herald-first');
    expect(await servedCommonName(broker.adminUrl)).toBe('herald-first');
    await expect(fetch(`${broker.url.replace('https', 'http')}/healthz`)).rejects.toThrow();
  });

  it('serves a renewed certificate without a restart', async () => {
    issue('second', 'herald-second');
    // Key first, then certificate: between the two the pair does not match and the old one stays.
    renameSync(file('second.key'), file('tls.key'));
    await sleep(100);
    renameSync(file('second.crt'), file('tls.crt'));
    const deadline = Date.now() + 15_000;
    let cn = await servedCommonName(broker.url);
    while (cn !== 'herald-second' && Date.now() < deadline) {
      await sleep(200);
      cn = await servedCommonName(broker.url);
    }
    expect(cn).toBe('herald-second');
    expect(await servedCommonName(broker.adminUrl)).toBe('herald-second');
    expect((await get(`${broker.url}/events/pub`)).status).toBe(405);
  });
});
