// Acceptance (#10 point 7, --sink-ca): an https sink whose certificate comes from a private CA is
// refused (no delivery, a coded lastError) unless the broker trusts that CA with --sink-ca.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { publish, subscribe, waitForStatus } from '../harness/client.js';
import { startHostileSink } from './support/hostile-sink.js';
import type { HostileSink } from './support/hostile-sink.js';

/** A private CA and a server certificate for 127.0.0.1 signed by it, made with openssl now. */
function makeCertificates(): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-ca-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=Herald test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ec, '-keyout', file('sink.key'), '-out', file('sink.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(
    file('ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('sink.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('sink.pem'),
    '-days',
    '1',
    '-extfile',
    file('ext.cnf'),
  );
  return { ca: file('ca.pem'), cert: file('sink.pem'), key: file('sink.key') };
}

describe('https sinks with a private CA (--sink-ca)', () => {
  let certificates: ReturnType<typeof makeCertificates>;
  let sink: HostileSink;
  let trusting: BrokerProcess | undefined;
  let plain: BrokerProcess;
  beforeAll(async () => {
    certificates = makeCertificates();
    [sink, plain] = await Promise.all([startHostileSink(certificates), startBroker()]);
  });
  afterAll(async () => {
    await Promise.all([sink.stop(), trusting?.stop(), plain.stop()]);
    if (trusting !== undefined) removeDir(trusting.dataDir);
    removeDir(plain.dataDir);
  });

  it('is refused without the CA: nothing delivered, a coded lastError', async () => {
    const subscription = await subscribe(plain.url, { sink: `${sink.url}/untrusted` });
    await publish(plain.url, { id: 'untrusted' });
    const status = await waitForStatus(plain.url, subscription.id, (s) => s.lastError !== null);
    expect(status.lastError).toMatchObject({ code: 'HERALD_SINK_UNREACHABLE' });
    expect((await sink.received()).filter((r) => r.path === '/untrusted')).toHaveLength(0);
  });

  it('is delivered to with --sink-ca', async () => {
    const broker = await startBroker({ args: ['--sink-ca', certificates.ca] });
    trusting = broker;
    const subscription = await subscribe(broker.url, { sink: `${sink.url}/trusted` });
    await publish(broker.url, { id: 'trusted' });
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/trusted'));
    expect(records.find((r) => r.path === '/trusted')?.headers['ce-id']).toBe('trusted');
    const status = await waitForStatus(
      broker.url,
      subscription.id,
      (s) => (s as { lastDeliveredAt?: string | null }).lastDeliveredAt != null,
    );
    expect(status.lastError).toBeNull();
  });

  it('a missing CA file is invalid configuration', async () => {
    await expect(startBroker({ args: ['--sink-ca', '/nonexistent/ca.pem'] })).rejects.toThrow(/--sink-ca/);
  });
});
