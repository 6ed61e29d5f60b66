// Smoke test for the kube-apiserver harness: a real apiserver + etcd, driven with plain HTTPS JSON.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../process.js';
import { kubeRequest, startKubeApiServer } from './apiserver.js';
import type { KubeApiServer, KubeResponse } from './apiserver.js';

const GROUP = 'smoke.herald.test';
const PLURAL = 'widgets';

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: PLURAL, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: { size: { type: 'integer', minimum: 1 } },
              },
            },
          },
        },
      },
    ],
  },
};

interface Condition {
  type: string;
  status: string;
}

describe('kube-apiserver harness', () => {
  let kube: KubeApiServer;
  const call = (method: string, path: string, body?: unknown): Promise<KubeResponse> =>
    kubeRequest(kube.server, kube.token, method, path, body);

  beforeAll(async () => {
    kube = await startKubeApiServer();
  }, 180_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  it('serves /version with the built Kubernetes version and writes a kubeconfig', async () => {
    const res = await call('GET', '/version');
    expect(res.status).toBe(200);
    const version = res.body as { gitVersion: string; major: string };
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(version.major).toBe('1');
    const cfg = JSON.parse(readFileSync(kube.kubeconfigPath, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    expect(cfg.clusters[0]?.cluster.server).toBe(kube.server);
  });

  it('rejects an unknown token', async () => {
    const res = await kubeRequest(kube.server, 'not-a-token', 'GET', '/api/v1/namespaces');
    expect(res.status).toBe(401);
  });

  it('creates a namespace, a CRD, and a custom resource, then lists it', async () => {
    const ns = await call('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'herald-smoke' },
    });
    expect(ns.status, ns.text).toBe(201);

    const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    expect(created.status, created.text).toBe(201);

    await waitFor(
      'CRD Established',
      async () => {
        const res = await call(
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${PLURAL}.${GROUP}`,
        );
        const conditions = (res.body as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
        return conditions.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const base = `/apis/${GROUP}/v1/namespaces/herald-smoke/${PLURAL}`;
    // The discovery cache may lag the Established condition by a moment: retry 404s briefly.
    const cr = await waitFor(
      'custom resource created',
      async () => {
        const res = await call('POST', base, {
          apiVersion: `${GROUP}/v1`,
          kind: 'Widget',
          metadata: { name: 'w1' },
          spec: { size: 3 },
        });
        if (res.status === 404) return undefined;
        return res;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(cr.status, cr.text).toBe(201);

    const invalid = await call('POST', base, {
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: 'w2' },
      spec: { size: 0 },
    });
    expect(invalid.status, invalid.text).toBe(422);

    const list = await call('GET', base);
    expect(list.status, list.text).toBe(200);
    const items = (
      list.body as { kind: string; items: { metadata: { name: string }; spec: { size: number } }[] }
    ).items;
    expect(items.map((i) => i.metadata.name)).toEqual(['w1']);
    expect(items[0]?.spec.size).toBe(3);
  });
});
