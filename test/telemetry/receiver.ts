// Starts the real OTLP receiver process (otlp-receiver.mjs) for tests that read a broker's exported spans.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A span as the receiver decoded it. */
export interface ReceivedSpan {
  encoding: 'json' | 'protobuf' | 'grpc';
  service: string | null;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  status: number;
}

export interface Receiver {
  /** OTLP/HTTP. */
  readonly endpoint: string;
  /** OTLP/gRPC, plaintext. */
  readonly grpcEndpoint: string;
  spans(): Promise<{ spans: ReceivedSpan[]; requests: { json: number; protobuf: number; grpc: number } }>;
  stop(): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));

export async function startReceiver(): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, [path.join(here, 'otlp-receiver.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await new Promise<{ port: number; grpcPort: number }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) =>
      resolve(JSON.parse(line) as { port: number; grpcPort: number }),
    );
    child.once('exit', (code) => reject(new Error(`OTLP receiver exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${ports.port}`;
  return {
    endpoint,
    grpcEndpoint: `http://127.0.0.1:${ports.grpcPort}`,
    spans: async () =>
      (await (await fetch(`${endpoint}/spans`)).json()) as Awaited<ReturnType<Receiver['spans']>>,
    stop: () => child.kill('SIGTERM'),
  };
}
