// SPDX-License-Identifier: Apache-2.0
// Dapr beside Herald (`npm run bench -- --peer dapr`): the daprd built by test/infra/dapr/build.sh (dapr's
// runtime with only the NATS JetStream pub/sub component), started in standalone mode on 127.0.0.1 with
// a resources directory holding one `pubsub.jetstream` component, no placement (actors off) and no
// scheduler (both are off when their addresses are not given), metrics off. Also builds the Go binaries
// on demand: the build scripts are idempotent and print the binary's path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { natsServerBinary } from './nats.js';
import type { ManagedChild, Placement } from './processes.js';
import { SERVER_CORE, buildInfra, spawnProcess } from './processes.js';

/** The nats-server binary: `HERALD_NATS_SERVER`, the cached build, or a build now. */
export function ensureNatsServer(log: (line: string) => void): string {
  return natsServerBinary() ?? buildInfra('test/infra/nats/build.sh', log);
}

/** The daprd binary: `HERALD_DAPRD`, or the cached build of test/infra/dapr/build.sh (building it if needed). */
export function ensureDaprd(log: (line: string) => void): string {
  const override = process.env['HERALD_DAPRD'];
  if (override !== undefined && override !== '') return override;
  return buildInfra('test/infra/dapr/build.sh', log);
}

/** A port that was free a moment ago on 127.0.0.1 (daprd takes fixed ports, not 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Creates the file-backed stream the Dapr component publishes into: dapr's `pubsub.jetstream` publishes
 * to the subject named by the topic and never creates a stream itself.
 */
export async function createStream(
  natsUrl: string,
  name: string,
  subjects: readonly string[],
): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name, subjects: [...subjects] });
  } finally {
    await nc.close();
  }
}

export interface DaprdOptions {
  readonly binary: string;
  readonly natsUrl: string;
  /** Name of the pub/sub component (the `{pubsubname}` of `POST /v1.0/publish/{pubsubname}/{topic}`). */
  readonly pubsubName: string;
  readonly streamName: string;
  /** The app daprd delivers to: it answers `GET /dapr/subscribe` on this port. */
  readonly appPort: number;
  readonly placement: Placement;
  /** Extra metadata of the component, e.g. `concurrency: parallel`. */
  readonly componentMetadata?: Readonly<Record<string, string>>;
}

export interface DaprdHandle {
  /** `http://127.0.0.1:<dapr-http-port>` */
  readonly url: string;
  readonly process: ManagedChild;
  stop(): Promise<void>;
}

function componentYaml(options: DaprdOptions): string {
  const metadata: Record<string, string> = {
    natsURL: options.natsUrl,
    streamName: options.streamName,
    ...options.componentMetadata,
  };
  return [
    'apiVersion: dapr.io/v1alpha1',
    'kind: Component',
    'metadata:',
    `  name: ${options.pubsubName}`,
    'spec:',
    '  type: pubsub.jetstream',
    '  version: v1',
    '  metadata:',
    ...Object.entries(metadata).flatMap(([name, value]) => [
      `    - name: ${name}`,
      `      value: ${JSON.stringify(value)}`,
    ]),
    '',
  ].join('\n');
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.statusCode, body };
}

/**
 * Starts daprd on the server core and resolves once `/v1.0/healthz` answers 204 and `/v1.0/metadata`
 * lists at least one subscription (daprd has read the app's `GET /dapr/subscribe` and subscribed).
 */
export async function startDaprd(options: DaprdOptions): Promise<DaprdHandle> {
  const resources = mkdtempSync(path.join(tmpdir(), 'herald-bench-dapr-'));
  writeFileSync(path.join(resources, 'pubsub.yaml'), componentYaml(options));
  const [httpPort, grpcPort, internalPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, DAPR_HOST_IP: '127.0.0.1' };
  // A scheduler address from the environment would make daprd dial it: this run has none.
  delete env['DAPR_SCHEDULER_HOST_ADDRESS'];
  delete env['DAPR_SCHEDULER_HOST_ADDRESS_DNS_A'];
  const child = spawnProcess(
    'daprd',
    options.binary,
    [
      '--mode',
      'standalone',
      '--app-id',
      'herald-bench',
      '--app-port',
      String(options.appPort),
      '--app-channel-address',
      '127.0.0.1',
      '--app-protocol',
      'http',
      '--dapr-http-port',
      String(httpPort),
      '--dapr-grpc-port',
      String(grpcPort),
      '--dapr-internal-grpc-port',
      String(internalPort),
      '--dapr-listen-addresses',
      '127.0.0.1',
      '--dapr-internal-grpc-listen-address',
      '127.0.0.1',
      '--resources-path',
      resources,
      '--enable-metrics=false',
      '--log-level',
      'warn',
    ],
    options.placement,
    SERVER_CORE,
    env,
  );
  // daprd logs to stdout: keep the tail for error messages and keep the pipe drained.
  const recent: string[] = [];
  child.child.stdout?.on('data', (chunk: Buffer) => {
    recent.push(chunk.toString());
    if (recent.length > 30) recent.shift();
  });
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    await child.stop(10_000);
    rmSync(resources, { recursive: true, force: true });
  };
  const deadline = performance.now() + 60_000;
  try {
    for (;;) {
      if (!child.alive) throw new Error(`daprd exited before it was ready: ${recent.join('').slice(-1500)}`);
      if (performance.now() > deadline)
        throw new Error(`daprd not ready within 60 s: ${recent.join('').slice(-1500)}`);
      try {
        const health = await getJson(`${url}/v1.0/healthz`);
        if (health.status === 204) {
          const metadata = await getJson(`${url}/v1.0/metadata`);
          const subscriptions = (metadata.body as { subscriptions?: unknown[] } | undefined)?.subscriptions;
          if (Array.isArray(subscriptions) && subscriptions.length > 0) return { url, process: child, stop };
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
}
