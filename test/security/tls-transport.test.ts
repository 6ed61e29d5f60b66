// Transport bounds over TLS, from raw node:tls sockets against a real broker: the connection caps hold on
// an HTTPS listener as they do on a plain one (the guard counts the TCP socket, the request arrives on the
// TLS socket wrapped around it), and clients that misuse the TLS layer are refused cleanly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../infra/process.js';
import { removeDir, useBrokers } from '../harness/processes.js';
import { metricValue } from '../support/http.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-tls-transport-'));
const file = (name: string) => path.join(dir, name);
const broker = useBrokers();
const sockets: net.Socket[] = [];

beforeAll(() => {
  // A self-signed certificate for 127.0.0.1, trusted by the clients below as their only CA.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file('tls.key'),
      '-out',
      file('tls.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
});
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  removeDir(dir);
});

const tlsArgs = () => ['--tls-cert', file('tls.crt'), '--tls-key', file('tls.key')];

/** A TLS connection (handshake done) from `localAddress`, reading everything the broker sends. */
function openTls(
  url: string,
  localAddress = '127.0.0.1',
  extra: tls.ConnectionOptions = {},
): Promise<{ socket: tls.TLSSocket; received: () => string; closed: Promise<void> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    // The TCP connection is made here: tls.connect's types do not take a local address.
    const tcp = net.connect({ host: '127.0.0.1', port: Number(port), localAddress });
    sockets.push(tcp);
    const socket = tls.connect({
      socket: tcp,
      host: '127.0.0.1',
      ca: readFileSync(file('tls.crt')),
      ...extra,
    });
    sockets.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
    socket.once('secureConnect', () => resolve({ socket, received: () => text, closed }));
  });
}

/** Writes one GET and resolves with the status line and head of its answer. */
function get(connection: { socket: tls.TLSSocket; received: () => string }, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const before = connection.received().length;
    const onData = () => {
      const text = connection.received().slice(before);
      if (!text.includes('\r\n\r\n')) return;
      connection.socket.off('data', onData);
      resolve(text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase());
    };
    connection.socket.on('data', onData);
    connection.socket.once('error', reject);
    connection.socket.write(`GET ${target} HTTP/1.1\r\nHost: broker\r\n\r\n`);
  });
}

/** The body of a GET over HTTPS (a new connection, from `localAddress`). */
function fetchText(url: string, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: readFileSync(file('tls.crt')), agent: false, localAddress }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

describe('connection caps over TLS', () => {
  it('answers a TLS connection over --max-connections with 503 HERALD_TOO_MANY_CONNECTIONS and closes it', async () => {
    // The metrics are read on the admin port: the data port's two connections are taken.
    const b = await broker([
      ...tlsArgs(),
      '--max-connections',
      '2',
      '--admin-port',
      String(await freePort()),
    ]);
    const held = [await openTls(b.url), await openTls(b.url, '127.0.0.2')];
    // The data port serves no GET: a 405 is an admitted connection's answer.
    for (const connection of held) expect(await get(connection, '/events/pub')).toMatch(/^http\/1\.1 405 /);
    const over = await openTls(b.url, '127.0.0.3');
    const head = await get(over, '/events/pub');
    expect(head).toMatch(/^http\/1\.1 503 /);
    expect(head).toContain('connection: close');
    expect(over.received()).toContain('"code":"HERALD_TOO_MANY_CONNECTIONS"');
    await over.closed;
    const metrics = await fetchText(`${b.adminUrl}/metrics`, '127.0.0.4');
    expect(
      metricValue(metrics, 'herald_limit_rejections_total{limit="max-connections"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('answers a TLS connection over --max-connections-per-client with 503, and not another address', async () => {
    const b = await broker([...tlsArgs(), '--max-connections-per-client', '2']);
    const held = [await openTls(b.url), await openTls(b.url)];
    for (const connection of held) expect(await get(connection, '/healthz')).toMatch(/^http\/1\.1 200 /);
    const over = await openTls(b.url);
    expect(await get(over, '/healthz')).toMatch(/^http\/1\.1 503 /);
    expect(over.received()).toContain('"code":"HERALD_TOO_MANY_CONNECTIONS"');
    await over.closed;
    const other = await openTls(b.url, '127.0.0.2');
    expect(await get(other, '/healthz')).toMatch(/^http\/1\.1 200 /);
  });
});

describe('TLS handshakes', () => {
  // Bound by the test's timeout: Node's own TLS handshake timeout (120 s) would keep it far longer.
  it('closes a connection that never finishes its TLS handshake within --headers-timeout, freeing its slot', async () => {
    const b = await broker([
      ...tlsArgs(),
      '--max-connections',
      '1',
      '--headers-timeout',
      '2s',
      '--admin-port',
      String(await freePort()),
    ]);
    const { port } = new URL(b.url);
    // Half a handshake: a TCP connection that sends one byte of a TLS record and then nothing.
    const stalled = net.connect({ host: '127.0.0.1', port: Number(port) });
    sockets.push(stalled);
    stalled.on('data', () => undefined);
    stalled.on('error', () => undefined);
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(Buffer.from([0x16]));
    // It holds the data port's only connection slot while it lasts.
    const refused = await openTls(b.url, '127.0.0.2');
    expect(await get(refused, '/events/pub')).toMatch(/^http\/1\.1 503 /);
    await refused.closed;
    await new Promise<void>((resolve) => stalled.once('close', () => resolve()));
    // The broker frees the slot when its side of the closed connection has closed, which can come a moment
    // after ours: a connection refused meanwhile is answered 503 and another is tried. Unfreed (no
    // handshake bound), the slot is held for Node's 120 s and the test's timeout ends it.
    let answer: string;
    for (;;) {
      const admitted = await openTls(b.url, '127.0.0.2');
      answer = await get(admitted, '/events/pub');
      if (!/^http\/1\.1 503 /.test(answer)) break;
      await admitted.closed;
    }
    expect(answer).toMatch(/^http\/1\.1 405 /);
    const metrics = await fetchText(`${b.adminUrl}/metrics`, '127.0.0.3');
    expect(metricValue(metrics, 'herald_limit_rejections_total{limit="headers-timeout"}')).toBe(1);
  }, 30_000);
});
