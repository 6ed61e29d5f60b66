import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshCrds } from '../infra/mesh/crds.js';
import { Applier, installCrds, manifests, yamlBlocks } from '../k8s/apply.js';
import type { KubeManifest } from '../k8s/apply.js';
import { GROUP_PATH, startCluster } from '../k8s/cluster.js';
import { kubeRequest } from '../infra/k8s/apiserver.js';
import { compileSqlFilter } from '../../src/filters/index.js';
import { resourceToDefinition } from '../../src/k8s-api/index.js';
import type { SubscriptionResource } from '../../src/k8s-api/index.js';
import { compileSubscription, parseDeliveryDefaults } from '../../src/subscriptions/index.js';
import { brokerChildren } from '../../src/operator/index.js';
import type { KubeObject } from '../../src/operator/index.js';
import type { Broker } from '../../src/k8s-api/index.js';
import type { TestCluster } from '../k8s/cluster.js';
import { readPage } from './markdown.js';
import { classify } from './session.js';
import { PAGES } from './pages.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const page = read('docs/istio.md');
const knative = read('docs/knative.md');

describe('docs/istio.md and docs/knative.md against a real API server with the Istio and Gateway API CRDs', () => {
  let cluster: TestCluster;
  let applier: Applier;

  beforeAll(async () => {
    const crds = meshCrds(); // fails (never skips) when test/infra/mesh/fetch.sh has not run
    cluster = await startCluster();
    expect(await installCrds(cluster, crds.istio)).toBeGreaterThanOrEqual(10);
    expect(await installCrds(cluster, crds.gatewayApi)).toBeGreaterThanOrEqual(5);
    applier = new Applier(cluster);
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const blocks = yamlBlocks(page);

  it('has the recipes the page promises', () => {
    const kinds = new Set(
      blocks.flatMap((b) => manifests(b.text).map((o) => `${o.apiVersion.split('/')[0]}/${o.kind}`)),
    );
    for (const kind of [
      'networking.istio.io/VirtualService',
      'networking.istio.io/DestinationRule',
      'networking.istio.io/EnvoyFilter',
      'security.istio.io/PeerAuthentication',
      'security.istio.io/AuthorizationPolicy',
      'security.istio.io/RequestAuthentication',
      'gateway.networking.k8s.io/HTTPRoute',
      'gateway.networking.k8s.io/Gateway',
      'eventing.herald.dev/Broker',
      'eventing.herald.dev/Subscription',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    const text = blocks.map((b) => b.text).join('\n');
    expect(text).toContain('weight: 10'); // the canary
    expect(text).toMatch(/mirror(Percentage)?:/);
    expect(text).toContain('RequestMirror');
    expect(text).toContain('fault:');
    expect(text).toContain('mode: STRICT');
    expect(text).toContain('notPrincipals');
    expect(text).toContain('--admin-port');
    expect(text).toContain('local_ratelimit');
  });

  // Every Kubernetes manifest of the documentation and of examples/, applied as `kubectl apply
  // --server-side --validate=strict` would: an unknown or misplaced field fails.
  const documented = PAGES.flatMap((file) =>
    readPage(file)
      .blocks.filter((b) => classify(b).kind === 'manifest')
      .map((b) => [`${b.file}:${b.line}`, b.text] as const),
  );
  const examples = readdirSync(new URL('../../examples', import.meta.url))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => [`examples/${f}`, read(`examples/${f}`)] as const);

  it('finds the manifests (istio.md alone has more than ten blocks)', () => {
    expect(documented.filter(([where]) => where.startsWith('docs/istio.md')).length).toBeGreaterThan(10);
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  // Each on its own: what one block applied is deleted before the next (several name the same object).
  it.each([...documented, ...examples])('%s applies', async (_where, text) => {
    const objects = manifests(text);
    expect(objects.length).toBeGreaterThan(0);
    try {
      for (const object of objects) {
        expect(object.apiVersion, 'every document is a Kubernetes object').toBeTypeOf('string');
        const applied = await applier.apply(object);
        expect(
          applied.status,
          `${object.kind}/${object.metadata.name}: ${applied.text.slice(0, 1500)}`,
        ).toBeLessThan(300);
      }
    } finally {
      // Namespaces stay: without a controller-manager a deleted namespace never finishes terminating.
      for (const object of objects.toReversed())
        if (typeof object.apiVersion === 'string' && object.kind !== 'Namespace')
          await applier.delete(object);
    }
  });

  // `kubectl get` prints the table the API server returns for the resource (server-side printing): the
  // header a page shows must be that table's columns.
  const gets = PAGES.flatMap((file) =>
    readPage(file)
      .blocks.filter((b) => classify(b).kind === 'kubectl-columns')
      .map((b) => [`${b.file}:${b.line}`, b.text] as const),
  );
  it.each(gets)('%s: the header is what kubectl get prints', async (_where, text) => {
    const [, resource, namespace, header] = /^kubectl get (\S+) -n (\S+)\n# (.+)$/m.exec(text) ?? [];
    expect(header, text).toBeDefined();
    // Right after start-up the API server may answer 429 "storage is (re)initializing" for a moment.
    let table;
    for (let attempt = 0; attempt < 100; attempt++) {
      table = await kubeRequest(
        cluster.apiserver.server,
        cluster.apiserver.token,
        'GET',
        `${GROUP_PATH}/namespaces/${namespace}/${resource}`,
        undefined,
        { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      );
      if (table.status !== 429) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    table = table!;
    expect(table.status, table.text).toBe(200);
    const columns = (
      table.body as { columnDefinitions: Array<{ name: string; priority: number }> }
    ).columnDefinitions
      .filter((c) => c.priority === 0)
      .map((c) => c.name.toUpperCase().replaceAll(' ', '-'));
    expect(header!.trim().split(/\s+/)).toEqual(columns);
  });

  it('the labels, ServiceAccount and Service the recipes name are what the operator creates for a Broker', () => {
    const objects = blocks.flatMap((b) => manifests(b.text));
    const broker = objects.find((o) => o.kind === 'Broker') as KubeManifest;
    const children = brokerChildren(
      { ...broker, metadata: { ...broker.metadata, uid: 'u' } } as unknown as Broker,
      undefined,
      { image: 'herald:0.1.0', imagePullPolicy: 'IfNotPresent' },
    );
    const workload = children.find((c) => c.kind === 'StatefulSet') as KubeObject;
    const podLabels = (workload['spec'] as { template: { metadata: { labels: Record<string, string> } } })
      .template.metadata.labels;
    const serviceAccount = children.find((c) => c.kind === 'ServiceAccount') as KubeObject;
    const service = children.find((c) => c.kind === 'Service') as KubeObject;
    const text = blocks.map((b) => b.text).join('\n');
    // Every selector on the broker's label in the recipes selects the operator's pods.
    for (const match of text.matchAll(/eventing\.herald\.dev\/broker: (\S+)/g)) {
      expect(podLabels['eventing.herald.dev/broker']).toBe(match[1]);
    }
    expect(text).toContain(`cluster.local/ns/shop/sa/${serviceAccount.metadata.name}`);
    expect(page).toContain(`cluster.local/ns/shop/sa/${serviceAccount.metadata.name}`);
    expect(service.metadata.name).toBe('orders');
    expect((service['spec'] as { ports: unknown[] }).ports).toEqual([
      expect.objectContaining({ name: 'http', port: 80, appProtocol: 'http' }),
    ]);
    const container = (
      workload['spec'] as {
        template: { spec: { containers: Array<{ ports: Array<{ containerPort: number }> }> } };
      }
    ).template.spec.containers[0];
    expect(container?.ports[0]?.containerPort).toBe(8080); // the port the AuthorizationPolicies name
  });

  it('a misspelt field fails (the schemas are strict, so the test above can fail)', async () => {
    const canary = blocks
      .flatMap((b) => manifests(b.text))
      .find((o) => o.kind === 'VirtualService') as KubeManifest;
    const spec = structuredClone(canary['spec']) as { http: Array<Record<string, unknown>> };
    const first = spec.http[0] as Record<string, unknown>;
    first['retires'] = first['retries'];
    delete first['retries'];
    const typo = await applier.apply({ ...canary, metadata: { ...canary.metadata, name: 'typo' }, spec });
    expect(typo.status, typo.text).toBeGreaterThanOrEqual(400);
    expect(typo.text).toContain('retires');

    const route = blocks
      .flatMap((b) => manifests(b.text))
      .find((o) => o.kind === 'HTTPRoute') as KubeManifest;
    const wrongType = structuredClone(route) as KubeManifest & {
      spec: { rules: Array<{ matches?: Array<{ headers?: Array<{ type: string }> }> }> };
    };
    const header = wrongType.spec.rules[0]?.matches?.[0]?.headers?.[0];
    if (header !== undefined) header.type = 'Prefix'; // not a Gateway API header match type
    wrongType.metadata = { ...wrongType.metadata, name: 'wrong-type' };
    const rejected = await applier.apply(wrongType);
    expect(rejected.status, rejected.text).toBeGreaterThanOrEqual(400);
  });
  it('docs/knative.md: the migrated example is examples/knative-migration.yaml, applies, and is valid for the broker', async () => {
    const herald = yamlBlocks(knative);
    expect(herald).toHaveLength(1);
    const example = read('examples/knative-migration.yaml');
    expect(example.slice(example.indexOf('\n') + 1)).toBe(`${herald[0]?.text}\n`);
    const objects = manifests(example);
    expect(objects.map((o) => o.kind)).toEqual(['Broker', 'Subscription', 'Subscription', 'EventType']);
    for (const object of objects) {
      const applied = await applier.apply(object);
      expect(
        applied.status,
        `${object.kind}/${object.metadata.name}: ${applied.text.slice(0, 1500)}`,
      ).toBeLessThan(300);
      if (object.kind === 'Broker') {
        // The operator hands spec.delivery to the broker as --delivery-defaults.
        parseDeliveryDefaults((object['spec'] as { delivery: Record<string, unknown> }).delivery);
      }
      if (object.kind !== 'Subscription') continue;
      // What the broker does with it: the definition (sink resolved, filters compiled).
      const definition = resourceToDefinition(applied.body as SubscriptionResource);
      compileSubscription(definition, compileSqlFilter);
      expect(definition.sink).toMatch(/^http:\/\//);
    }
    // The Knative originals on the page are real YAML of the kinds the tables map.
    const originals = knative
      .split('```yaml knative\n')
      .slice(1)
      .map((part) => part.slice(0, part.indexOf('```')));
    expect(originals.flatMap((text) => manifests(text).map((o) => o.kind))).toEqual([
      'Broker',
      'Trigger',
      'Trigger',
      'EventType',
    ]);
  });
});
