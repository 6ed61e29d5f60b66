import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installYaml } from '../../src/operator/index.js';
import { kubeRequest, startKubeApiServer } from '../infra/k8s/apiserver.js';
import type { KubeApiServer } from '../infra/k8s/apiserver.js';
import { CLI } from '../harness/processes.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

/** The REST collection of a manifest object, the way kubectl finds it. */
function collection(object: { apiVersion: string; kind: string; metadata: { namespace?: string } }): string {
  const plural: Record<string, string> = {
    Namespace: 'namespaces',
    CustomResourceDefinition: 'customresourcedefinitions',
    ServiceAccount: 'serviceaccounts',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    Deployment: 'deployments',
    Broker: 'brokers',
    Subscription: 'subscriptions',
    Channel: 'channels',
    Secret: 'secrets',
    EventType: 'eventtypes',
  };
  const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
  const ns = object.metadata.namespace === undefined ? '' : `/namespaces/${object.metadata.namespace}`;
  return `${base}${ns}/${plural[object.kind] ?? 'unknown'}`;
}

describe('install manifests and examples', () => {
  let apiserver: KubeApiServer;
  beforeAll(async () => {
    apiserver = await startKubeApiServer();
  }, 180_000);
  afterAll(async () => {
    await apiserver?.stop();
  });

  it('deploy/herald.yaml is exactly what `herald manifests` prints', () => {
    expect(read('deploy/herald.yaml')).toBe(installYaml('herald:0.1.0'));
    expect(execFileSync(process.execPath, [CLI, 'manifests'], { encoding: 'utf8' })).toBe(
      read('deploy/herald.yaml'),
    );
  });

  it('applies deploy/herald.yaml and every example to a real API server', async () => {
    const apply = async (file: string) => {
      for (const document of parseAllDocuments(read(file))) {
        const object = document.toJS() as {
          apiVersion: string;
          kind: string;
          metadata: { name: string; namespace?: string };
        };
        let response;
        for (let attempt = 0; attempt < 50; attempt++) {
          // Strict: a field the schema does not know fails the test instead of being pruned.
          response = await kubeRequest(
            apiserver.server,
            apiserver.token,
            'POST',
            `${collection(object)}?fieldValidation=Strict`,
            object,
          );
          // Right after CRDs are created their REST paths take a moment to appear.
          if (response.status !== 404 && response.status !== 429) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(response?.status, `${file}: ${object.kind}/${object.metadata.name}: ${response?.text}`).toBe(
          201,
        );
      }
    };
    await apply('deploy/herald.yaml');
    // The operator has no leader election, so two must never run at once: a rolling update (the
    // Deployment's default) runs the new version beside the old, and each applied its own image over the
    // other's broker pod templates. Recreate stops the old operator first.
    const operator = await kubeRequest(
      apiserver.server,
      apiserver.token,
      'GET',
      '/apis/apps/v1/namespaces/herald-system/deployments/herald-operator',
    );
    expect((operator.body as { spec?: { strategy?: { type?: string } } }).spec?.strategy?.type).toBe(
      'Recreate',
    );
    for (const crd of ['brokers', 'channels', 'subscriptions', 'eventtypes']) {
      for (let i = 0; i < 100; i++) {
        const got = await kubeRequest(
          apiserver.server,
          apiserver.token,
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}.eventing.herald.dev`,
        );
        const conditions =
          (got.body as { status?: { conditions?: Array<{ type: string; status: string }> } }).status
            ?.conditions ?? [];
        if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await apply('examples/broker.yaml');
    await apply('examples/subscription.yaml');
    await apply('examples/jetstream-channel.yaml');
    await apply('examples/kafka-channel.yaml');
    await apply('examples/subscription-with-credential.yaml');
    await apply('examples/eventtype.yaml');
  });
});
