import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { compileRules } from '../auth/index.js';
import type { PolicySet } from '../auth/index.js';
import { readyCondition } from '../k8s-api/index.js';
import type { EventPolicyResource } from '../k8s-api/index.js';
import type { Logger } from '../observability/index.js';
import { HeraldResourceClient, makeDeadlineInformer, restartWatchOnError, statusOf } from './client.js';

export interface EventPolicyWatcherOptions {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly broker: string;
  readonly logger: Logger;
  /** Where the rules go: each resource is one source, replaced or removed alone. */
  readonly policy: PolicySet;
  /** How long a watch lasts at most before it is ended and resumed (default `WATCH_TIMEOUT_MS`). */
  readonly watchTimeoutMs?: number;
}

/**
 * Keeps the broker's authorization rules equal to the EventPolicy resources of its namespace that apply
 * to it (`spec.broker` absent or naming it), live, through an informer. Rules that do not compile are
 * reported on the resource's Ready condition and grant nothing (the resource still counts, so a broken
 * policy fails closed instead of falling back to `--authz-default`).
 */
export class EventPolicyWatcher {
  private readonly client: HeraldResourceClient<EventPolicyResource>;
  private informer: Informer<KubernetesObject> | undefined;
  private stopped = false;
  private markRead: () => void = () => undefined;
  /** Resolves once the resources have been listed (and applied) for the first time. */
  readonly whenRead = new Promise<void>((resolve) => (this.markRead = resolve));

  constructor(private readonly options: EventPolicyWatcherOptions) {
    this.client = HeraldResourceClient.for<EventPolicyResource>(
      options.config,
      options.namespace,
      'eventpolicies',
    );
  }

  async start(): Promise<void> {
    // Until the resources were listed once the rules in force are unknown: only --policy grants, and a
    // refusal is "not ready" (503), rather than fall back to --authz-default (which allows every
    // authenticated principal) while the list fails (no permission, an API server still starting).
    const unread = this.source('(not listed yet)');
    this.options.policy.awaiting(unread);
    const informer = makeDeadlineInformer(
      this.options.config,
      this.client.path,
      async () => {
        const list = await this.listOrNone();
        // Applied here, before the rules count as read, so that no request finds neither.
        for (const resource of list.items) this.observe(resource);
        this.options.policy.read(unread);
        this.markRead();
        return list as unknown as KubernetesListObject<KubernetesObject>;
      },
      this.options.watchTimeoutMs,
    );
    informer.on('add', (object) => this.observe(object as unknown as EventPolicyResource));
    informer.on('update', (object) => this.observe(object as unknown as EventPolicyResource));
    informer.on('delete', (object) => this.forget((object as unknown as EventPolicyResource).metadata.name));
    restartWatchOnError(informer, 'EventPolicy', this.options.logger, () => this.stopped);
    this.informer = informer;
    await informer.start();
  }

  /** The resources; none when the EventPolicy CRD is not installed (then no policy can exist). */
  private async listOrNone(): Promise<
    Awaited<ReturnType<HeraldResourceClient<EventPolicyResource>['list']>>
  > {
    try {
      return await this.client.list();
    } catch (error) {
      if (statusOf(error) === 404) return { items: [], metadata: {} };
      throw error;
    }
  }

  stop(): void {
    this.stopped = true;
    void this.informer?.stop();
  }

  private source(name: string): string {
    return `EventPolicy ${this.options.namespace}/${name}`;
  }

  private observe(resource: EventPolicyResource): void {
    const { name, generation } = resource.metadata;
    const broker = resource.spec?.broker;
    // Marked for deletion (a finalizer holds it): deleted, so it grants nothing more — `kubectl delete`
    // answered, and the finalizer may hold the resource for as long as its controller likes.
    const deleting = resource.metadata.deletionTimestamp !== undefined;
    if (deleting || (broker !== undefined && broker !== this.options.broker)) {
      this.forget(name);
      return;
    }
    const { rules, problems } = compileRules(
      Array.isArray(resource.spec?.rules) ? resource.spec.rules : [],
      this.source(name),
    );
    if (problems.length > 0 || rules.length === 0) {
      this.options.policy.set(this.source(name), []);
      const message = problems.length > 0 ? problems.join('; ') : 'spec.rules is empty';
      this.options.logger.warn({ eventPolicy: name, problems }, 'EventPolicy not applied');
      void this.report(name, readyCondition('False', 'InvalidRules', message, generation));
      return;
    }
    this.options.policy.set(this.source(name), rules);
    this.options.logger.info({ eventPolicy: name, rules: rules.length }, 'EventPolicy applied');
    void this.report(
      name,
      readyCondition(
        'True',
        'Applied',
        `${rules.length} rule(s) in force on broker ${this.options.broker}`,
        generation,
      ),
    );
  }

  private forget(name: string): void {
    this.options.policy.remove(this.source(name));
  }

  private async report(name: string, condition: ReturnType<typeof readyCondition>): Promise<void> {
    try {
      const current = await this.client.get(name);
      const previous = current?.status?.conditions?.find((c) => c.type === 'Ready');
      if (
        previous?.status === condition.status &&
        previous.message === condition.message &&
        previous.observedGeneration === condition.observedGeneration
      ) {
        return;
      }
      await this.client.patchStatus(name, {
        conditions: [condition],
        ...(condition.observedGeneration === undefined
          ? {}
          : { observedGeneration: condition.observedGeneration }),
      });
    } catch (error) {
      if (!this.stopped)
        this.options.logger.warn({ err: error, eventPolicy: name }, 'EventPolicy status not written');
    }
  }
}
