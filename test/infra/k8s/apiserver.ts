// Test harness for a real kube-apiserver with an embedded etcd, built by test/infra/k8s/build.sh.
// Loopback only; everything lives in a temporary directory removed by stop().
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  ManagedProcess,
  freePorts,
  makeTempDir,
  removeTempDir,
  resolveInfraBinary,
  waitFor,
} from '../process.js';

export const KUBE_BUILD_SCRIPT = 'test/infra/k8s/build.sh';

export interface KubeApiServer {
  /** https://127.0.0.1:PORT (self-signed certificate: skip verification or trust `caCertPath`). */
  readonly server: string;
  /** Bearer token of user `herald-admin` in group `system:masters`. */
  readonly token: string;
  /** kubeconfig with this server (insecure-skip-tls-verify) and the admin token. */
  readonly kubeconfigPath: string;
  /** The apiserver's self-signed serving certificate (written into its --cert-dir). */
  readonly caCertPath: string;
  /** http://127.0.0.1:PORT of the embedded etcd. */
  readonly etcdUrl: string;
  readonly dir: string;
  readonly pid: number | undefined;
  /** Last lines of the apiserver/etcd log. */
  logs(lines?: number): string;
  /** Stops the process (SIGTERM, then SIGKILL) and removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

export interface KubeResponse {
  status: number;
  body: unknown;
  text: string;
}

export function kubeApiServerBinary(): string {
  return resolveInfraBinary('HERALD_KUBE_APISERVER', 'herald-kube-apiserver', KUBE_BUILD_SCRIPT);
}

/**
 * Minimal HTTPS JSON client for the test apiserver (no client library): self-signed certificate accepted,
 * Bearer token. Never throws on HTTP status; only on transport errors and timeouts.
 */
export function kubeRequest(
  server: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; contentType?: string; accept?: string } = {},
): Promise<KubeResponse> {
  const url = new URL(path, server);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    accept: opts.accept ?? 'application/json',
  };
  if (payload !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers, rejectUnauthorized: false, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try {
            parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function kubeconfig(server: string, token: string): string {
  // JSON is valid YAML; kubectl and @kubernetes/client-node both accept it.
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'herald-test', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'herald-admin', user: { token } }],
      contexts: [{ name: 'herald-test', context: { cluster: 'herald-test', user: 'herald-admin' } }],
      'current-context': 'herald-test',
    },
    null,
    2,
  )}\n`;
}

const START_TIMEOUT_MS = 120_000;

/**
 * Starts etcd (embedded, no fsync, temporary data dir) and kube-apiserver on free loopback ports with
 * token authentication, RBAC, and no ServiceAccount admission (there is no controller-manager), then waits
 * for /readyz. There is no scheduler, controller-manager or kubelet: objects are stored, nothing reconciles.
 */
export async function startKubeApiServer(): Promise<KubeApiServer> {
  const binary = kubeApiServerBinary();
  const dir = makeTempDir('herald-kube-');
  const certDir = join(dir, 'pki');
  mkdirSync(certDir);

  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const saKey = join(dir, 'sa.key');
  writeFileSync(saKey, privateKey, { mode: 0o600 });

  const token = randomBytes(24).toString('hex');
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, `${token},herald-admin,herald-admin-uid,"system:masters"\n`, { mode: 0o600 });

  const [securePort, etcdClientPort, etcdPeerPort] = await freePorts(3);
  if (securePort === undefined || etcdClientPort === undefined || etcdPeerPort === undefined) {
    throw new Error('no free ports');
  }
  const server = `https://127.0.0.1:${securePort}`;
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const args = [
    `--embedded-etcd-dir=${join(dir, 'etcd')}`,
    `--embedded-etcd-client-port=${etcdClientPort}`,
    `--embedded-etcd-peer-port=${etcdPeerPort}`,
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${securePort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    '--service-cluster-ip-range=10.0.0.0/24',
    // A loopback advertise address is rejected by the default (lease) endpoint reconciler since 1.37;
    // upstream's own test server sets `none` the same way.
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    '--authorization-mode=RBAC',
    '--disable-admission-plugins=ServiceAccount',
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${saKey}`,
    `--service-account-signing-key-file=${saKey}`,
    `--token-auth-file=${tokens}`,
    // Test-only tuning: fewer background goroutines and less log noise.
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--v=0',
  ];
  const proc = new ManagedProcess('kube-apiserver', binary, args, {
    cwd: dir,
    env: { ...process.env, HERALD_EXIT_WITH_PARENT: '1' },
    maxOutputLines: 2_000,
    cleanupDir: dir,
  });

  let removed = false;
  const stop = async (): Promise<void> => {
    await proc.stop(15_000);
    if (!removed) {
      removed = true;
      removeTempDir(dir);
    }
  };

  try {
    await waitFor(
      `kube-apiserver /readyz on ${server}`,
      async () => {
        const res = await kubeRequest(server, token, 'GET', '/readyz', undefined, { timeoutMs: 5_000 });
        if (res.status !== 200) throw new Error(`/readyz ${res.status}: ${res.text.slice(0, 500)}`);
        return true;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 250, abort: () => proc.exitDescription() },
    );
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // klog error/fatal lines first: etcd's shutdown noise would otherwise bury the cause.
    const errors = proc.matchingOutput(/^[EF]\d{4} /);
    const log = proc.recentOutput(30);
    await stop();
    throw new Error(
      `${msg}\n--- kube-apiserver errors ---\n${errors}\n--- kube-apiserver log tail ---\n${log}`,
      {
        cause: err,
      },
    );
  }

  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfig(server, token), { mode: 0o600 });

  return {
    server,
    token,
    kubeconfigPath,
    caCertPath: join(certDir, 'apiserver.crt'),
    etcdUrl,
    dir,
    get pid() {
      return proc.pid;
    },
    logs: (lines = 40) => proc.recentOutput(lines),
    stop,
  };
}
