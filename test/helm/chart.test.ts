// The Helm chart (deploy/helm/herald), rendered and installed with a real helm binary (built from the
// Go module proxy by test/infra/helm/build.sh) against a real kube-apiserver.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { installManifests } from '../../src/operator/index.js';
import { kubeRequest, startKubeApiServer } from '../infra/k8s/apiserver.js';
import type { KubeApiServer } from '../infra/k8s/apiserver.js';
import { makeTempDir, removeTempDir, resolveInfraBinary } from '../infra/process.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);
const chart = new URL('deploy/helm/herald', root).pathname;
const NAMESPACE = 'herald-system';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};

let helmHome: string;
const helmBinary = () => resolveInfraBinary('HERALD_HELM', 'helm', 'test/infra/helm/build.sh');

/** Runs helm with its own config, cache and data folders (never the user's). */
async function helm(args: string[], kubeconfig?: string): Promise<string> {
  try {
    const { stdout } = await run(
      helmBinary(),
      [...args, ...(kubeconfig ? ['--kubeconfig', kubeconfig] : [])],
      {
        env: {
          ...process.env,
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_DATA_HOME: join(helmHome, 'data'),
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return stdout;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${failed.stderr ?? failed.message}`);
  }
}

async function render(values: string[] = [], extra: string[] = []): Promise<Manifest[]> {
  const text = await helm(['template', 'herald', chart, '--namespace', NAMESPACE, ...extra, ...values]);
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((object): object is Manifest => object !== null);
}

/** Labels only Helm adds; without them a chart object and its deploy/herald.yaml twin must be equal. */
const HELM_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
];

function normalise(object: Manifest): Manifest {
  const copy = structuredClone(object);
  const strip = (labels: Record<string, string> | undefined) => {
    for (const label of HELM_LABELS) delete labels?.[label];
  };
  strip(copy.metadata.labels);
  const template = (
    copy['spec'] as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined
  )?.template;
  strip(template?.metadata?.labels);
  return copy;
}

const key = (object: Manifest) => `${object.kind}/${object.metadata.name}`;
const sorted = (objects: Manifest[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)));

describe('Helm chart', () => {
  beforeAll(() => {
    helmHome = makeTempDir('herald-helm-');
  });
  afterAll(() => removeTempDir(helmHome));

  it('its CRDs and RBAC rules are generated from the same source as deploy/herald.yaml, and current', async () => {
    await run(process.execPath, [new URL('scripts/manifests.mjs', root).pathname, '--check']);
  });

  it('passes helm lint', async () => {
    expect(await helm(['lint', chart, '--strict'])).toContain('0 chart(s) failed');
  });

  it('renders by default exactly the resources of deploy/herald.yaml (less its Namespace), Helm labels aside', async () => {
    const plain = parseAllDocuments(readFileSync(new URL('deploy/herald.yaml', root), 'utf8'))
      .map((document) => document.toJS() as Manifest)
      .filter((object) => object.kind !== 'Namespace');
    const rendered = await render([], ['--include-crds']);
    expect(sorted(rendered).map(normalise)).toEqual(sorted(plain));
    // Helm's own labels are there, on the operator's objects.
    const deployment = rendered.find((object) => object.kind === 'Deployment')!;
    expect(deployment.metadata.labels).toMatchObject({
      'app.kubernetes.io/instance': 'herald',
      'app.kubernetes.io/managed-by': 'Helm',
    });
  });

  it('the schema rejects values the chart cannot honour', async () => {
    await expect(render(['--set', 'operator.replicas=2'])).rejects.toThrow(/maximum/);
    await expect(render(['--set', 'operator.logLevel=loud'])).rejects.toThrow(/logLevel/);
    await expect(render(['--set', 'operatorr.replicas=1'])).rejects.toThrow(/additional propert/i);
    await expect(render(['--set', 'serviceMonitor.interval=soon'])).rejects.toThrow(/interval/);
    // A token Secret needs both its name and its key.
    await expect(render(['--set', 'serviceMonitor.tokenSecret.name=only-a-name'])).rejects.toThrow(
      /tokenSecret/,
    );
  });

  it('renders the optional ServiceMonitor and PodDisruptionBudget, and the operator settings', async () => {
    const rendered = await render([
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'serviceMonitor.labels.release=prometheus',
      '--set',
      'podDisruptionBudget.enabled=true',
      '--set',
      'image.tag=1.2.3',
      '--set',
      'image.pullPolicy=Always',
      '--set',
      'operator.logLevel=debug',
    ]);
    const monitor = rendered.find((object) => object.kind === 'ServiceMonitor')!;
    expect(monitor.metadata.labels?.['release']).toBe('prometheus');
    expect(monitor['spec']).toEqual({
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'herald-broker',
          'app.kubernetes.io/managed-by': 'herald-operator',
        },
      },
      namespaceSelector: { any: true },
      endpoints: [{ port: 'http', path: '/metrics', interval: '30s' }],
    });
    // Brokers with authentication: the scrape sends a token from a Secret.
    const authenticated = await render([
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'serviceMonitor.tokenSecret.name=herald-metrics-token',
      '--set',
      'serviceMonitor.tokenSecret.key=token',
    ]);
    const withToken = authenticated.find((object) => object.kind === 'ServiceMonitor')!;
    expect((withToken['spec'] as { endpoints: unknown[] }).endpoints).toEqual([
      {
        port: 'http',
        path: '/metrics',
        interval: '30s',
        authorization: { type: 'Bearer', credentials: { name: 'herald-metrics-token', key: 'token' } },
      },
    ]);
    const pdb = rendered.find((object) => object.kind === 'PodDisruptionBudget')!;
    expect(pdb['spec']).toEqual({
      maxUnavailable: 1,
      selector: {
        matchLabels: { 'app.kubernetes.io/name': 'herald-operator', 'app.kubernetes.io/part-of': 'herald' },
      },
    });
    const container = (
      rendered.find((object) => object.kind === 'Deployment')!['spec'] as {
        template: { spec: { containers: { image: string; imagePullPolicy: string; env: unknown[] }[] } };
      }
    ).template.spec.containers[0]!;
    expect(container.image).toBe('herald:1.2.3');
    expect(container.imagePullPolicy).toBe('Always');
    expect(container.env).toEqual([
      { name: 'HERALD_IMAGE', value: 'herald:1.2.3' },
      { name: 'HERALD_IMAGE_PULL_POLICY', value: 'Always' },
      { name: 'HERALD_LOG_LEVEL', value: 'debug' },
    ]);
  });

  describe('install, upgrade and uninstall against a real API server', () => {
    let apiserver: KubeApiServer;
    const get = (path: string) => kubeRequest(apiserver.server, apiserver.token, 'GET', path);
    const deploymentPath = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/herald-operator`;
    const operatorPaths = [
      deploymentPath,
      `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/herald-operator`,
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/herald-operator',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/herald-operator',
    ];
    const crdPaths = ['brokers', 'channels', 'subscriptions'].map(
      (plural) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.eventing.herald.dev`,
    );

    async function container(): Promise<{ image: string; env: { name: string; value: string }[] }> {
      const response = await get(deploymentPath);
      expect(response.status).toBe(200);
      return (
        response.body as { spec: { template: { spec: { containers: { image: string; env: never[] }[] } } } }
      ).spec.template.spec.containers[0]!;
    }

    beforeAll(async () => {
      apiserver = await startKubeApiServer();
    }, 180_000);
    afterAll(async () => {
      await apiserver?.stop();
    });

    it('helm install creates the CRDs and the operator with its RBAC', async () => {
      await helm(
        ['install', 'herald', chart, '--namespace', NAMESPACE, '--create-namespace'],
        apiserver.kubeconfigPath,
      );
      for (const path of [...crdPaths, ...operatorPaths]) expect((await get(path)).status, path).toBe(200);
      const generated = installManifests('herald:0.1.0');
      const role = (await get(operatorPaths[2]!)).body as { rules: unknown[] };
      expect(role.rules).toEqual(generated.find((object) => object.kind === 'ClusterRole')!['rules']);
      const binding = (await get(operatorPaths[3]!)).body as { subjects: unknown[] };
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'herald-operator', namespace: NAMESPACE },
      ]);
      expect(await container()).toMatchObject({
        image: 'herald:0.1.0',
        env: [{ name: 'HERALD_IMAGE', value: 'herald:0.1.0' }],
      });
      const status = JSON.parse(
        await helm(['status', 'herald', '-n', NAMESPACE, '-o', 'json'], apiserver.kubeconfigPath),
      ) as {
        info: { status: string };
        version: number;
      };
      expect(status).toMatchObject({ info: { status: 'deployed' }, version: 1 });
    });

    it('helm upgrade with changed values changes the operator', async () => {
      await helm(
        [
          'upgrade',
          'herald',
          chart,
          '--namespace',
          NAMESPACE,
          '--set',
          'image.tag=0.2.0',
          '--set',
          'operator.logLevel=debug',
          '--set',
          'podDisruptionBudget.enabled=true',
        ],
        apiserver.kubeconfigPath,
      );
      expect(await container()).toMatchObject({
        image: 'herald:0.2.0',
        env: [
          { name: 'HERALD_IMAGE', value: 'herald:0.2.0' },
          { name: 'HERALD_LOG_LEVEL', value: 'debug' },
        ],
      });
      const pdb = await get(`/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/herald-operator`);
      expect(pdb.status).toBe(200);
      expect((pdb.body as { spec: unknown }).spec).toMatchObject({ maxUnavailable: 1 });
      const history = JSON.parse(
        await helm(['history', 'herald', '-n', NAMESPACE, '-o', 'json'], apiserver.kubeconfigPath),
      ) as {
        revision: number;
        status: string;
      }[];
      expect(history.map((entry) => [entry.revision, entry.status])).toEqual([
        [1, 'superseded'],
        [2, 'deployed'],
      ]);
    });

    it('helm uninstall removes the operator and its RBAC, and keeps the CRDs (and so the resources)', async () => {
      await helm(['uninstall', 'herald', '--namespace', NAMESPACE], apiserver.kubeconfigPath);
      for (const path of [
        ...operatorPaths,
        `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/herald-operator`,
      ]) {
        expect((await get(path)).status, path).toBe(404);
      }
      for (const path of crdPaths) expect((await get(path)).status, path).toBe(200);
      expect(await helm(['list', '-n', NAMESPACE, '-q'], apiserver.kubeconfigPath)).toBe('');
    });
  });
});
