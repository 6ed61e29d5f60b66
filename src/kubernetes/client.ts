import { readFileSync } from 'node:fs';
import {
  CustomObjectsApi,
  KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { Informer, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../k8s-api/index.js';
import type { Logger } from '../observability/index.js';

const NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** In a pod: the service account; elsewhere `KUBECONFIG` or `~/.kube/config`. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfigPath !== undefined) config.loadFromFile(kubeconfigPath);
  else config.loadFromDefault();
  return config;
}

/** The namespace to work in: the flag, else the pod's own namespace, else the kubeconfig context's. */
export function resolveNamespace(config: KubeConfig, explicit: string | undefined): string {
  if (explicit !== undefined) return explicit;
  try {
    return readFileSync(NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  }
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Status code of a client error (ApiException), or undefined for transport errors. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Typed access to one kind of Herald custom resource in one namespace. */
export class HeraldResourceClient<T> {
  constructor(
    private readonly api: CustomObjectsApi,
    readonly namespace: string,
    readonly plural: string,
  ) {}

  static for<T>(config: KubeConfig, namespace: string, plural: string): HeraldResourceClient<T> {
    return new HeraldResourceClient<T>(config.makeApiClient(CustomObjectsApi), namespace, plural);
  }

  get path(): string {
    return `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${this.plural}`;
  }

  private params() {
    return { group: GROUP, version: VERSION, namespace: this.namespace, plural: this.plural };
  }

  private named(name: string) {
    return { ...this.params(), name };
  }

  async list(): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
    return (await this.api.listNamespacedCustomObject(this.params())) as {
      items: T[];
      metadata: { resourceVersion?: string };
    };
  }

  async get(name: string): Promise<T | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject(this.named(name))) as T;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async create(body: T): Promise<T> {
    return (await this.api.createNamespacedCustomObject({ ...this.params(), body: body as object })) as T;
  }

  async patch(name: string, patch: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.named(name), body: patch },
      mergePatch,
    )) as T;
  }

  async patchStatus(name: string, status: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObjectStatus(
      { ...this.named(name), body: { status } },
      mergePatch,
    )) as T;
  }

  /**
   * Deletes; answers what the API server answered (a Status naming the uid deleted, or the resource
   * marked for deletion when a finalizer holds it), or `undefined` when it did not exist.
   */
  async delete(name: string): Promise<{ readonly answer: unknown } | undefined> {
    try {
      return { answer: (await this.api.deleteNamespacedCustomObject(this.named(name))) as unknown };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

type JsonObject = { readonly [key: string]: unknown };

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A JSON merge patch (RFC 7386) that turns `current` into exactly `desired`: a merge patch keeps every
 * member it does not name, so each member of `current` that `desired` lacks is named with `null`,
 * nested objects included. Arrays and other values are replaced whole, as a merge patch does anyway.
 */
export function replacingMergePatch(current: unknown, desired: JsonObject): JsonObject {
  const patch: Record<string, unknown> = {};
  if (isJsonObject(current)) {
    for (const key of Object.keys(current)) if (!(key in desired)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(desired)) {
    const before = isJsonObject(current) ? current[key] : undefined;
    patch[key] = isJsonObject(value) && isJsonObject(before) ? replacingMergePatch(before, value) : value;
  }
  return patch;
}

/** How long a watch lasts at most before the client ends it and resumes it (see `DeadlineWatch`). */
export const WATCH_TIMEOUT_MS = 300_000;

type WatchCallback = Parameters<Watch['watch']>[2];
type WatchDone = Parameters<Watch['watch']>[3];

/**
 * A watch the client ends itself `timeoutMs` after it began streaming, as if the API server had closed
 * it: the informer then watches again from the last resourceVersion it heard (or relists after
 * `410 Gone`), so nothing is missed. The API server ends a watch after 30–60 minutes, but a connection
 * that dies silently (a load balancer or proxy that stops forwarding, a peer gone without a reset) ends
 * nothing, and an informer would wait on it for ever: a Subscription deleted meanwhile would keep
 * delivering, an EventPolicy deleted meanwhile keep granting. (Until the stream begins, the request's
 * own 30 s timeout applies.)
 */
class DeadlineWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly timeoutMs: number,
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: WatchDone,
  ): Promise<AbortController> {
    let ended = false;
    let deadline: NodeJS.Timeout | undefined;
    const end: WatchDone = (error) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      done(error);
    };
    // Nothing an ended watch still reads is reported: the informer has moved on to the next one.
    const report: WatchCallback = (phase, object, watchObject) => {
      if (!ended) callback(phase, object, watchObject);
    };
    const controller = await super.watch(path, queryParams, report, end);
    if (!ended) {
      deadline = setTimeout(() => {
        end(null);
        controller.abort();
      }, this.timeoutMs);
      deadline.unref();
    }
    return controller;
  }
}

/**
 * An informer (list, then watch) of `path` whose watches last at most `timeoutMs` (`DeadlineWatch`);
 * `labelSelector` narrows the watch as `list` must narrow the list.
 */
export function makeDeadlineInformer(
  config: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<KubernetesObject>>,
  timeoutMs: number = WATCH_TIMEOUT_MS,
  labelSelector?: string,
): Informer<KubernetesObject> {
  return new ListWatch<KubernetesObject>(
    path,
    new DeadlineWatch(config, timeoutMs),
    list,
    false,
    labelSelector,
  );
}

/** How long after a failed watch its informer is started again. */
const WATCH_RESTART_MS = 2_000;

/**
 * Starts `informer` again `WATCH_RESTART_MS` after its watch fails, for as long as its owner has not
 * stopped. The check is made again when the restart is due: a restart scheduled before the owner stopped
 * and run after would open a watch that nothing stops, and keep a stopped broker's process alive.
 */
export function restartWatchOnError(
  informer: Informer<KubernetesObject>,
  what: string,
  logger: Logger,
  stopped: () => boolean,
): void {
  informer.on('error', (error: unknown) => {
    if (stopped()) return;
    logger.warn({ err: error }, `${what} watch failed; restarting it`);
    setTimeout(() => {
      if (!stopped()) void informer.start().catch(() => undefined);
    }, WATCH_RESTART_MS).unref();
  });
}
