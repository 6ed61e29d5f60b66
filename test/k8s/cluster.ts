import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from '../harness/processes.js';
import { customResourceDefinitions } from '../../src/k8s-api/index.js';
import { kubeRequest, startKubeApiServer } from '../infra/k8s/apiserver.js';
import type { KubeApiServer, KubeResponse } from '../infra/k8s/apiserver.js';

/** A real kube-apiserver with Herald's CRDs installed and established. */
export interface TestCluster {
  readonly apiserver: KubeApiServer;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  /** Polls `GET path` until `predicate` holds; throws with the last body after `timeoutMs`. */
  waitFor(
    path: string,
    predicate: (body: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  createNamespace(name: string): Promise<void>;
  stop(): Promise<void>;
}

export const GROUP_PATH = '/apis/eventing.herald.dev/v1alpha1';

/**
 * Writes a kubeconfig in the API server's directory that authenticates with `token` (a ServiceAccount's:
 * a broker running as it) in namespace `ns`; answers its path, for `KUBECONFIG`.
 */
export function kubeconfigWithToken(cluster: TestCluster, name: string, token: string, ns: string): string {
  const file = path.join(cluster.apiserver.dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'c', cluster: { server: cluster.apiserver.server, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'broker', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'broker', namespace: ns } }],
      'current-context': 'c',
    }),
  );
  return file;
}

export async function startCluster(): Promise<TestCluster> {
  const apiserver = await startKubeApiServer();
  const request = (method: string, path: string, body?: unknown, contentType?: string) =>
    kubeRequest(
      apiserver.server,
      apiserver.token,
      method,
      path,
      body,
      contentType === undefined ? {} : { contentType },
    );
  const cluster: TestCluster = {
    apiserver,
    request,
    async waitFor(path, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: KubeResponse | undefined;
      while (Date.now() < deadline) {
        last = await request('GET', path);
        if (last.status === 200 && predicate(last.body as Record<string, unknown>))
          return last.body as Record<string, unknown>;
        await sleep(100);
      }
      throw new Error(
        `condition on ${path} not met within ${timeoutMs} ms; last answer ${last?.status}: ${last?.text.slice(0, 2000)}`,
      );
    },
    async createNamespace(name) {
      const created = await request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
      if (created.status !== 201 && created.status !== 409)
        throw new Error(`namespace ${name}: ${created.text}`);
    },
    stop: () => apiserver.stop(),
  };
  for (const crd of customResourceDefinitions()) {
    const created = await request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (created.status !== 201) throw new Error(`CRD rejected (${created.status}): ${created.text}`);
    const name = (crd['metadata'] as { name: string }).name;
    await cluster.waitFor(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`, (body) =>
      (
        (body['status'] as { conditions?: Array<{ type: string; status: string }> } | undefined)
          ?.conditions ?? []
      ).some((c) => c.type === 'Established' && c.status === 'True'),
    );
  }
  // The new group takes a moment to appear in discovery and serve requests.
  await cluster.waitFor(GROUP_PATH, () => true);
  return cluster;
}

/** Runs `herald operator` against the test cluster, as the operator's Deployment would (image name only). */
export function spawnOperator(cluster: TestCluster): ChildProcess {
  return spawn(process.execPath, [CLI, 'operator', '--image', 'herald:test'], {
    env: { ...process.env, KUBECONFIG: cluster.apiserver.kubeconfigPath, HERALD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
