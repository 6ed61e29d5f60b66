import { parseAllDocuments } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeResponse } from '../infra/k8s/apiserver.js';
import type { TestCluster } from './cluster.js';

export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** The objects of a multi-document YAML text (empty documents left out). */
export function manifests(text: string): KubeManifest[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`YAML error: ${document.errors[0]?.message}`);
      return document.toJS() as KubeManifest | null;
    })
    .filter((object): object is KubeManifest => object !== null);
}

/** The ```yaml blocks of a Markdown page, with the line each starts on. */
export function yamlBlocks(markdown: string): Array<{ line: number; text: string }> {
  const blocks: Array<{ line: number; text: string }> = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```yaml') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]?.trim() !== '```') end++;
    blocks.push({ line: start + 1, text: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** Finds REST collections through discovery, the way kubectl does. */
export class Applier {
  private readonly resources = new Map<string, { plural: string; namespaced: boolean } | undefined>();

  constructor(private readonly cluster: TestCluster) {}

  private async resource(apiVersion: string, kind: string) {
    const key = `${apiVersion}/${kind}`;
    if (!this.resources.has(key)) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const found = await this.cluster.request('GET', path);
      const list = (found.body as { resources?: Array<{ name: string; kind: string; namespaced: boolean }> })
        ?.resources;
      const entry = list?.find((r) => r.kind === kind && !r.name.includes('/'));
      if (entry !== undefined) this.resources.set(key, { plural: entry.name, namespaced: entry.namespaced });
      else return undefined; // not cached: a CRD may become served in a moment
    }
    return this.resources.get(key);
  }

  /**
   * Server-side apply with strict field validation: an unknown or duplicated field is an error, not
   * silently pruned. Creates the object's namespace first.
   */
  async apply(object: KubeManifest, fieldManager = 'herald-tests'): Promise<KubeResponse> {
    let resource;
    for (let attempt = 0; attempt < 100 && resource === undefined; attempt++) {
      resource = await this.resource(object.apiVersion, object.kind);
      if (resource === undefined) await sleep(100);
    }
    if (resource === undefined)
      throw new Error(`the API server does not serve ${object.apiVersion} ${object.kind}`);
    const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    let namespacePath = '';
    if (resource.namespaced) {
      const namespace = object.metadata.namespace ?? 'default';
      await this.cluster.createNamespace(namespace);
      namespacePath = `/namespaces/${namespace}`;
    }
    const path = `${base}${namespacePath}/${resource.plural}/${object.metadata.name}?fieldManager=${fieldManager}&fieldValidation=Strict&force=true`;
    return this.cluster.request('PATCH', path, object, 'application/apply-patch+yaml');
  }

  /** Deletes an object applied before (`kubectl delete -f`). */
  async delete(object: KubeManifest): Promise<KubeResponse> {
    const resource = await this.resource(object.apiVersion, object.kind);
    if (resource === undefined)
      throw new Error(`the API server does not serve ${object.apiVersion} ${object.kind}`);
    const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    const namespacePath = resource.namespaced ? `/namespaces/${object.metadata.namespace ?? 'default'}` : '';
    return this.cluster.request(
      'DELETE',
      `${base}${namespacePath}/${resource.plural}/${object.metadata.name}`,
    );
  }
}

/** Creates CustomResourceDefinitions and waits until every one is Established. */
export async function installCrds(cluster: TestCluster, text: string): Promise<number> {
  const crds = manifests(text).filter((object) => object.kind === 'CustomResourceDefinition');
  for (const crd of crds) {
    const created = await cluster.request(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      crd,
    );
    if (created.status !== 201 && created.status !== 409) {
      throw new Error(
        `CRD ${crd.metadata.name} rejected (${created.status}): ${created.text.slice(0, 2000)}`,
      );
    }
  }
  for (const crd of crds) {
    await cluster.waitFor(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      (body) =>
        (
          (body['status'] as { conditions?: Array<{ type: string; status: string }> } | undefined)
            ?.conditions ?? []
        ).some((c) => c.type === 'Established' && c.status === 'True'),
    );
  }
  return crds.length;
}
