import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile-sink.mjs');

export interface HostileRecord {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface HostileSink {
  /** Base URL on its loopback address (https when started with a certificate). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  configure(behaviour: Record<string, unknown>): Promise<void>;
  received(): Promise<HostileRecord[]>;
  /** Resolves once `predicate` holds for what arrived; rejects after `timeoutMs`. */
  waitFor(predicate: (records: HostileRecord[]) => boolean, timeoutMs?: number): Promise<HostileRecord[]>;
  stop(): Promise<void>;
}

/** Starts a misbehaving sink in its own process (see hostile-sink.mjs for the modes). */
export async function startHostileSink(
  tls?: { cert: string; key: string; ca: string },
  host = '127.0.0.1',
): Promise<HostileSink> {
  const child = spawn(process.execPath, [script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      HOSTILE_SINK_HOST: host,
      ...(tls === undefined ? {} : { HOSTILE_SINK_CERT: tls.cert, HOSTILE_SINK_KEY: tls.key }),
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`hostile sink exited with ${code}`)));
  });
  child.stdout.resume();
  const scheme = tls === undefined ? 'http' : 'https';
  const url = `${scheme}://${host}:${port}`;
  // The control channel trusts the test's CA when the sink serves https.
  const dispatcher = new Agent(tls === undefined ? {} : { connect: { ca: readFileSync(tls.ca, 'utf8') } });
  const control = async (method: 'GET' | 'POST', route: string, body?: string) => {
    const response = await request(`${url}${route}`, {
      method,
      dispatcher,
      ...(body === undefined ? {} : { body }),
    });
    return response.body;
  };
  const sink: HostileSink = {
    url,
    port,
    pid: child.pid as number,
    async configure(behaviour) {
      await (await control('POST', '/_control', JSON.stringify(behaviour))).text();
    },
    async received() {
      return ((await (await control('GET', '/_received')).json()) as { received: HostileRecord[] }).received;
    },
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records = await sink.received();
        if (predicate(records)) return records;
        if (Date.now() > deadline)
          throw new Error(`hostile sink: condition not met (${records.length} requests)`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        void dispatcher.close();
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
  return sink;
}
