// Smoke tests for the nats-server harness: a real JetStream server and a real 3-node cluster.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorJson, startNatsCluster, startNatsServer } from './server.js';
import type { NatsCluster, NatsServer } from './server.js';

interface ServerInfo {
  server_id: string;
  server_name: string;
  version: string;
  jetstream?: boolean;
}

/** Connects with a raw TCP socket and parses the server's first protocol line: `INFO {json}\r\n`. */
function readInfo(port: number): Promise<ServerInfo> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => socket.destroy(new Error('no INFO line within 5 s')), 5_000);
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      const line = buf.slice(0, end);
      if (!line.startsWith('INFO ')) {
        reject(new Error(`unexpected first line: ${line}`));
        return;
      }
      resolve(JSON.parse(line.slice('INFO '.length)) as ServerInfo);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (m === null) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

describe('nats-server harness: single JetStream node', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('speaks the NATS protocol with JetStream enabled on a current version', async () => {
    const info = await readInfo(server.port);
    expect(info.jetstream).toBe(true);
    expect(versionAtLeast(info.version, 2, 10), `version ${info.version}`).toBe(true);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
  });

  it('comes back on the same port after a SIGKILL and restart()', async () => {
    await server.kill('SIGKILL');
    expect(server.running).toBe(false);
    await server.restart();
    expect(server.running).toBe(true);
    const info = await readInfo(server.port);
    expect(info.jetstream).toBe(true);
  });
});

describe('nats-server harness: 3-node JetStream cluster', () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('every node reports the same JetStream meta leader in /jsz', async () => {
    expect(cluster.servers).toHaveLength(3);
    const names = cluster.servers.map((s) => s.name);
    const leaders: string[] = [];
    for (const s of cluster.servers) {
      const jsz = (await monitorJson(s.monitorPort, '/jsz')) as {
        meta_cluster?: { leader?: string; cluster_size?: number };
      };
      expect(jsz.meta_cluster?.cluster_size).toBe(3);
      const leader = jsz.meta_cluster?.leader ?? '';
      expect(names).toContain(leader);
      leaders.push(leader);
    }
    expect(new Set(leaders).size).toBe(1);
  });

  it('elects a new meta leader after the leader is killed', async () => {
    const leader = await cluster.metaLeader();
    const node = cluster.servers.find((s) => s.name === leader);
    expect(node).toBeDefined();
    await node?.kill('SIGKILL');
    const next = await cluster.metaLeader({ timeoutMs: 30_000, excluding: leader });
    expect(next).not.toBe(leader);
    await node?.restart();
    expect(await cluster.metaLeader()).toBeTruthy();
  });
});
