import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryListener, SubscriptionRegistry } from '../registry.js';
import type { SubscriptionDefinition } from '../types.js';
import { buildDefinition, parseSubscriptionRequest } from '../validate.js';
import type { KeptFields } from '../validate.js';

/** One registry on a fresh, empty backing (its own directory, broker name or namespace). */
export interface RegistryHarness {
  readonly registry: SubscriptionRegistry;
  /**
   * Opens another registry on the same backing, as another broker replica (another process) would,
   * and resolves once it is ready to be used (Kubernetes: its informer has synced). Required when
   * the capabilities say `replicas: true`; `cleanup` closes whatever it opened.
   */
  other?(): Promise<SubscriptionRegistry>;
  /** Closes every registry and store the harness opened and removes its data. */
  cleanup(): Promise<void>;
}

export type RegistryFactory = () => Promise<RegistryHarness>;

/** What a backing can do beyond the calls every registry answers, declared by the caller. */
export interface RegistryCapabilities {
  /**
   * Several registries can share the backing (broker replicas) and one's changes reach the other's
   * `watch`. False for a single-process backing: the embedded SQLite store belongs to one process and
   * its `watch` never reports. The watch tests are then skipped by name (shown as skipped in the
   * report), never passed without running.
   */
  readonly replicas: boolean;
}

/** How long a change made through one replica may take to reach another's listener. */
const WATCH_DEADLINE_MS = 20_000;

const kept = (overrides: Partial<KeptFields> = {}): KeptFields => ({
  origin: 'api',
  paused: false,
  createdAt: '2026-01-02T03:04:05.000Z',
  ...overrides,
});

/**
 * A definition with every member a registry keeps set (what `definitionToResource` writes and
 * `resourceToDefinition` reads back), built the way the service builds one from a request, so it is
 * in the normal form both mappings produce.
 */
export function fullDefinition(id: string): SubscriptionDefinition {
  return buildDefinition(
    id,
    parseSubscriptionRequest({
      source: '/orders',
      types: ['com.example.order.created', 'com.example.order.paid'],
      config: { region: 'eu-west' },
      filters: [{ exact: { subject: 'gold' } }, { prefix: { type: 'com.example.' } }],
      sink: `http://sink.example/${id}`,
      sinkcredential: { secretRef: { name: 'orders-sink' } },
      protocol: 'HTTP',
      protocolsettings: { headers: { 'x-tenant': 'acme', 'x-route': 'a' }, method: 'PUT' },
      delivery: {
        retry: 3,
        backoffPolicy: 'linear',
        ordering: 'strict',
        deadLetterSink: 'http://sink.example/dead',
        rateLimit: 50,
        batch: { maxEvents: 10 },
      },
      startAt: { sequence: 42 },
    }),
    kept({ paused: true, seek: { next: 7, epoch: 2 }, owner: 'alice' }),
  );
}

/**
 * The same subscription after a PUT that leaves members out: no filters, types, config, credential or
 * start position, protocolsettings without headers, delivery without ordering, dead-letter sink or
 * rate limit (so the defaults apply), no longer paused, never sought, no owner.
 */
export function reducedDefinition(id: string): SubscriptionDefinition {
  return buildDefinition(
    id,
    parseSubscriptionRequest({
      sink: `http://sink.example/${id}/v2`,
      protocol: 'HTTP',
      protocolsettings: { method: 'PUT' },
      delivery: { retry: 3 },
    }),
    kept(),
  );
}

/** A definition declared by a seed request, which keeps the request's view. */
export function seedDefinition(id: string): SubscriptionDefinition {
  return buildDefinition(
    id,
    parseSubscriptionRequest({ sink: `http://sink.example/${id}`, protocol: 'HTTP', types: ['a.b'] }),
    kept({
      origin: 'seed',
      seed: { group: 'billing', type: 'a.b', subscribers: [`http://sink.example/${id}`] },
    }),
  );
}

const byId = (definitions: readonly SubscriptionDefinition[]) =>
  [...definitions].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

interface Heard {
  readonly id: string;
  readonly definition: SubscriptionDefinition | undefined;
  readonly withheld: boolean | undefined;
}

/** Records what a registry's listener hears, and waits for a change to be heard. */
function listen(registry: SubscriptionRegistry) {
  const heard: Heard[] = [];
  const waiters = new Set<() => void>();
  const listener: RegistryListener = (id, definition, withheld) => {
    heard.push({ id, definition, withheld });
    for (const wake of waiters) wake();
  };
  const stop = registry.watch(listener);
  /** Resolves with the first change heard for `id` that `matches` accepts, failing after the deadline. */
  const until = (id: string, matches: (heard: Heard) => boolean, what: string): Promise<Heard> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = heard.find((h) => h.id === id && matches(h));
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `the listener never heard ${what} for ${id} within ${WATCH_DEADLINE_MS} ms; it heard ${JSON.stringify(heard)}`,
          ),
        );
      }, WATCH_DEADLINE_MS);
      waiters.add(check);
      check();
    });
  return {
    heard,
    stop,
    definition: (definition: SubscriptionDefinition) =>
      until(definition.id, (h) => isDeepStrictEqual(h.definition, definition), 'the definition as put'),
    removal: (id: string) => until(id, (h) => h.definition === undefined, 'a removal'),
  };
}

/**
 * The `SubscriptionRegistry` contract, as tests. Every implementation runs this suite unchanged, on
 * a real backing; implementation-specific behaviour (Kubernetes status, withheld invalid resources,
 * sealed secrets) is tested beside the implementation.
 */
export function describeRegistryConformance(
  name: string,
  factory: RegistryFactory,
  capabilities: RegistryCapabilities,
): void {
  describe(`registry contract: ${name}`, () => {
    let harness: RegistryHarness | undefined;
    const open = async () => {
      harness = await factory();
      return harness;
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });
    const replica = (h: RegistryHarness) => {
      if (h.other === undefined) throw new Error(`${name} declares replicas but its harness has no other()`);
      return h.other();
    };

    it('put then list returns each definition as put', async () => {
      const { registry } = await open();
      expect(await registry.list()).toEqual([]);
      const full = fullDefinition('full');
      const reduced = reducedDefinition('reduced');
      await registry.put(full);
      await registry.put(reduced);
      expect(byId(await registry.list())).toEqual([full, reduced]);
    });

    it('put again with fewer members replaces the definition: the members left out are gone', async () => {
      const { registry } = await open();
      await registry.put(fullDefinition('orders'));
      const replacement = reducedDefinition('orders');
      await registry.put(replacement);
      const listed = await registry.list();
      expect(listed).toHaveLength(1);
      const [stored] = listed;
      // The members a merge that forgets removals would keep, named so a failure says which.
      expect(stored?.filters).toBeUndefined();
      expect(stored?.types).toBeUndefined();
      expect(stored?.sinkcredential).toBeUndefined();
      expect(stored?.protocolsettings?.headers).toBeUndefined();
      expect(stored?.delivery.ordering).toBe('none');
      expect(stored?.delivery.deadLetterSink).toBeUndefined();
      expect(stored?.delivery.rateLimit).toBeUndefined();
      expect(stored).toEqual(replacement);
    });

    it('putMany stores several at once, replacing those that exist (putManyWithCursors too, where a registry has it)', async () => {
      const { registry } = await open();
      await registry.putMany([]);
      await registry.put(fullDefinition('m-1'));
      const batch = [reducedDefinition('m-1'), fullDefinition('m-2'), seedDefinition('m-3')];
      await registry.putMany(batch);
      expect(byId(await registry.list())).toEqual(batch);
      if (registry.putManyWithCursors === undefined) return;
      const more = [fullDefinition('m-4'), reducedDefinition('m-5')];
      await registry.putManyWithCursors(more, [
        ['m-4', 5],
        ['m-5', 1],
      ]);
      expect(byId(await registry.list())).toEqual([...batch, ...more]);
    });

    it('delete answers true for a definition it removed, then false; list no longer has it', async () => {
      const { registry } = await open();
      const remaining = reducedDefinition('remaining');
      await registry.putMany([fullDefinition('gone'), remaining]);
      expect(await registry.delete('gone')).toBe(true);
      expect(await registry.list()).toEqual([remaining]);
      expect(await registry.delete('gone')).toBe(false);
      expect(await registry.delete('never-existed')).toBe(false);
      expect(await registry.list()).toEqual([remaining]);
    });

    it('replace changes a stored definition, and refuses (writing nothing) one never stored, deleted, or deleted and created again', async () => {
      const { registry } = await open();
      const first: SubscriptionDefinition = { ...reducedDefinition('orders'), incarnation: 'first' };
      expect(await registry.replace(first)).toBe(false);
      expect(await registry.list()).toEqual([]);
      await registry.put(first);
      const changed = { ...first, sink: 'http://127.0.0.1:9/changed' };
      expect(await registry.replace(changed)).toBe(true);
      expect(await registry.list()).toEqual([changed]);
      expect(await registry.delete('orders')).toBe(true);
      expect(await registry.replace(first)).toBe(false);
      expect(await registry.list()).toEqual([]);
      // Another subscription under the same id: a change meant for the first one is not applied to it.
      const again = { ...first, incarnation: 'again' };
      await registry.put(again);
      expect(await registry.replace(changed)).toBe(false);
      expect(await registry.list()).toEqual([again]);
    });

    it.skipIf(!capabilities.replicas)(
      "watch: another replica's put, replacement and delete reach the listener (the delete as undefined, not withheld)",
      async () => {
        const h = await open();
        const heard = listen(h.registry);
        const other = await replica(h);
        try {
          const full = fullDefinition('watched');
          await other.put(full);
          expect((await heard.definition(full)).definition).toEqual(full);
          const reduced = reducedDefinition('watched');
          await other.put(reduced);
          expect((await heard.definition(reduced)).definition).toEqual(reduced);
          expect(await h.registry.list()).toEqual([reduced]);
          expect(await other.delete('watched')).toBe(true);
          const removal = await heard.removal('watched');
          expect(removal.withheld ?? false).toBe(false);
          expect(await h.registry.list()).toEqual([]);
        } finally {
          heard.stop();
        }
      },
    );

    it.skipIf(!capabilities.replicas)(
      "watch: a replica's putMany reaches the listener for each definition; a stopped listener hears nothing more",
      async () => {
        const h = await open();
        const stopped = listen(h.registry);
        stopped.stop();
        const heard = listen(h.registry);
        const other = await replica(h);
        try {
          const batch = [fullDefinition('w-1'), reducedDefinition('w-2'), seedDefinition('w-3')];
          await other.putMany(batch);
          for (const definition of batch) await heard.definition(definition);
          // Both listeners hang off the same source, so the stopped one would have heard these by now.
          expect(stopped.heard).toEqual([]);
          expect(byId(await h.registry.list())).toEqual(batch);
        } finally {
          heard.stop();
        }
      },
    );
  });
}
