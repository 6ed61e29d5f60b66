import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataKind } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { pino } from 'pino';
import { BrokerMetrics } from '../observability/index.js';
import { thrownBy } from '../testing/thrown.js';
import { FileEventTypeBackend } from './file-backend.js';
import type { EventTypeFileSystem } from './file-backend.js';
import { EventTypeRegistry } from './registry.js';
import type { BackendReceiver, DeclaredEventType, EventTypeBackend, SeenEventType } from './types.js';

const encoder = new TextEncoder();
function event(type: string, source = '/s', data?: unknown): CloudEvent {
  return {
    attributes: { specversion: '1.0', id: 'x', type, source },
    data: data === undefined ? undefined : encoder.encode(JSON.stringify(data)),
    dataKind: data === undefined ? DataKind.None : DataKind.Json,
  };
}

/** A backend in memory whose writes can be made to fail; declarations are pushed by the test. */
class MemoryBackend implements EventTypeBackend {
  readonly paced = true;
  readonly written: SeenEventType[] = [];
  failing = false;
  receiver: BackendReceiver | undefined;
  start(receiver: BackendReceiver): Promise<void> {
    this.receiver = receiver;
    return Promise.resolve();
  }
  write(types: readonly SeenEventType[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('API server away'));
    this.written.push(...types);
    return Promise.resolve();
  }
  stop(): void {}
}

function warnings() {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

const registries: EventTypeRegistry[] = [];
function registry(backend: EventTypeBackend, max = 1000, rate = 1000, maxLength?: number) {
  const { logger, lines } = warnings();
  const metrics = new BrokerMetrics(false);
  const created = new EventTypeRegistry({
    backend,
    metrics,
    logger,
    max,
    rate,
    flushIntervalMs: 50,
    ...(maxLength === undefined ? {} : { maxLength }),
  });
  registries.push(created);
  return { registry: created, metrics, lines };
}
afterEach(async () => {
  for (const r of registries.splice(0)) await r.stop();
});

const metric = async (metrics: BrokerMetrics, name: string, labels: Record<string, string> = {}) =>
  (await metrics.registry.getSingleMetric(name)?.get())?.values
    .filter((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0) ?? 0;

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('EventTypeRegistry', () => {
  it('deduplicates: 10,000 events of 50 types are 50 entries with their counts', () => {
    const { registry: r } = registry(new MemoryBackend());
    const events = Array.from({ length: 10_000 }, (_, i) => event(`t${i % 50}`));
    for (let i = 0; i < events.length; i += 100) r.accepted(events.slice(i, i + 100));
    expect(r.size).toBe(50);
    expect(r.list().map((v) => v.count)).toEqual(Array.from({ length: 50 }, () => 200));
  });

  it('counts runs of one pair within a batch, and writes a written pair again once a later run sees it', async () => {
    const backend = new MemoryBackend();
    const { registry: r } = registry(backend);
    r.start();
    r.accepted([event('a'), event('a'), event('b'), event('a'), event('a', '/y'), event('a', '/y')]);
    const counts = () => Object.fromEntries(r.list().map((v) => [`${v.type} ${v.source}`, v.count]));
    expect(counts()).toEqual({ 'a /s': 3, 'b /s': 1, 'a /y': 2 });
    for (let i = 0; i < 100 && backend.written.length < 3; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.written).toHaveLength(3);
    // The next request starts with the pair the last one ended with: it is seen again, so written again.
    r.accepted([event('a', '/y'), event('b'), event('b'), event('b')]);
    for (let i = 0; i < 100 && backend.written.length < 5; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.written.slice(3)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'a', source: '/y', count: 3 }),
        expect.objectContaining({ type: 'b', source: '/s', count: 4 }),
      ]),
    );
    expect(counts()).toEqual({ 'a /s': 3, 'b /s': 4, 'a /y': 3 });
  });

  it('1,000,000 distinct types stop at the bound with one warning and a metric', async () => {
    const { registry: r, metrics, lines } = registry(new MemoryBackend(), 500);
    for (let i = 0; i < 1_000_000; i += 1000) {
      r.accepted(Array.from({ length: 1000 }, (_, j) => event(`com.example.t${i + j}`)));
    }
    expect(r.size).toBe(500);
    expect(await metric(metrics, 'herald_event_types_dropped_total')).toBe(999_500);
    expect(await metric(metrics, 'herald_event_types')).toBe(500);
    expect(lines.filter((l) => l.includes('registry is full'))).toHaveLength(1);
    // Types already registered keep counting.
    r.accepted([event('com.example.t0')]);
    expect(r.list().find((v) => v.type === 'com.example.t0')?.count).toBe(2);
  });

  it('a type or source longer than --event-types-max-length is counted, not registered, and never written', async () => {
    const backend = new MemoryBackend();
    const { registry: r, metrics, lines } = registry(backend, 1000, 1000, 64);
    r.start();
    const long = 'x'.repeat(65);
    r.accepted([event(long), event('ok', long), event(long), event('x'.repeat(64), '/s'), event('ok')]);
    expect(r.list().map((v) => v.type)).toEqual(['x'.repeat(64), 'ok']);
    expect(await metric(metrics, 'herald_event_types_dropped_total', { reason: 'too-long' })).toBe(3);
    expect(await metric(metrics, 'herald_event_types_dropped_total', { reason: 'limit' })).toBe(0);
    expect(lines.filter((l) => l.includes('--event-types-max-length'))).toHaveLength(1);
    await until(() => backend.written.length === 2);
    expect(backend.written.map((w) => w.type)).toEqual(['x'.repeat(64), 'ok']);
    // Restored from an earlier run with a larger bound: counted, not kept.
    backend.receiver?.restore([{ type: long, source: '/s', firstSeen: 0, lastSeen: 0, count: 7 }]);
    expect(r.size).toBe(2);
    expect(await metric(metrics, 'herald_event_types_dropped_total', { reason: 'too-long' })).toBe(4);
  });

  it('writes asynchronously, paced, and retries after the backend fails; accepting never throws', async () => {
    const backend = new MemoryBackend();
    backend.failing = true;
    const { registry: r, metrics } = registry(backend, 1000, 20);
    r.start();
    r.accepted(Array.from({ length: 30 }, (_, i) => event(`t${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(backend.written).toHaveLength(0);
    expect(await metric(metrics, 'herald_event_type_writes_total')).toBeGreaterThan(0);
    backend.failing = false;
    for (let i = 0; i < 100 && new Set(backend.written.map((w) => w.type)).size < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(new Set(backend.written.map((w) => w.type)).size).toBe(30);
  });

  it('paces backend writes at --event-types-rate (a frozen clock allows only the burst)', async () => {
    const backend = new MemoryBackend();
    let clock = 0;
    const { logger } = warnings();
    const pacedMetrics = new BrokerMetrics(false);
    const paced = new EventTypeRegistry({
      backend,
      metrics: pacedMetrics,
      logger,
      max: 1000,
      rate: 10,
      now: () => clock,
    });
    registries.push(paced);
    paced.start();
    paced.accepted(Array.from({ length: 100 }, (_, i) => event(`t${i}`)));
    const written = () => new Set(backend.written.map((w) => w.type)).size;
    for (let i = 0; i < 100 && written() < 10; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 600)); // several more ticks: no tokens, no writes
    expect(written()).toBe(10);
    expect(await metric(pacedMetrics, 'herald_event_type_writes_pending')).toBe(90);
    clock += 1000; // one second of tokens
    for (let i = 0; i < 100 && written() < 20; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(written()).toBe(20);
  });

  it('enforces a declared schema: 400 HERALD_SCHEMA_VIOLATION with the failing pointer, compiled once per version', async () => {
    const backend = new MemoryBackend();
    const { registry: r } = registry(backend);
    r.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const schema = {
      type: 'object',
      required: ['order'],
      properties: { order: { type: 'object', properties: { total: { type: 'number', minimum: 0 } } } },
    };
    const declared: DeclaredEventType = { type: 'order.created', schema, validation: 'enforce' };
    backend.receiver?.declare('a', declared);
    backend.receiver?.declare('b', { ...declared, source: '/other' }); // same schema version: no recompile
    expect(r.validators.compilations).toBe(1);

    r.check([event('order.created', '/s', { order: { total: 3 } })]);
    expect(thrownBy(() => r.check([event('order.created', '/s', { order: { total: -1 } })]))).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
      pointer: '/data/order/total',
    });
    expect(thrownBy(() => r.check([event('order.created', '/s', { nope: 1 })]))).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
      pointer: '/data',
    });
    // In a batch, the pointer and index name the event.
    expect(
      thrownBy(() => r.check([event('other'), event('order.created', '/s', { order: { total: 'x' } })])),
    ).toMatchObject({ code: 'HERALD_SCHEMA_VIOLATION', pointer: '/1/data/order/total', index: 1 });
    // Data that is not JSON, or no data, does not conform.
    expect(thrownBy(() => r.check([event('order.created')]))).toMatchObject({ pointer: '/data' });
    // Other types are not checked; `validation: off` declares without enforcing.
    r.check([event('order.shipped', '/s', { anything: true })]);
    backend.receiver?.declare('a', { ...declared, validation: 'off' });
    backend.receiver?.declare('b', undefined);
    r.check([event('order.created', '/s', { nope: 1 })]);
    // A new schema version compiles again.
    backend.receiver?.declare('c', { ...declared, schema: { ...schema, required: [] } });
    expect(r.validators.compilations).toBe(2);
  });
});

describe('FileEventTypeBackend', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** The node:fs/promises calls, with each writeFile held until the test lets it finish. */
  function slowFileSystem() {
    const held: (() => void)[] = [];
    let writing = 0;
    let mostAtOnce = 0;
    const fs: EventTypeFileSystem = {
      readFile: (path, encoding) => readFile(path, encoding),
      mkdir: (path, options) => mkdir(path, options),
      rename: (from, to) => rename(from, to),
      async writeFile(path, text) {
        writing++;
        mostAtOnce = Math.max(mostAtOnce, writing);
        await new Promise<void>((resolve) => held.push(resolve));
        await writeFile(path, text);
        writing--;
      },
    };
    return { fs, held, mostAtOnce: () => mostAtOnce };
  }

  it('writes the file off the event loop, one write at a time, atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-eventtypes-'));
    dirs.push(dir);
    const slow = slowFileSystem();
    const backend = new FileEventTypeBackend(dir, [], slow.fs);
    await backend.start({ restore: (types) => types, declare: () => undefined, unreadable: () => undefined });
    // Two writes asked for while the disk is slow: the first waits on the disk, the second waits for it.
    const first = backend.write([{ type: 'a', source: '/s', firstSeen: 1, lastSeen: 1, count: 1 }]);
    const second = backend.write([{ type: 'b', source: '/s', firstSeen: 1, lastSeen: 1, count: 1 }]);
    await until(() => slow.held.length === 1);
    expect(existsSync(join(dir, 'eventtypes.json'))).toBe(false);
    slow.held.shift()?.();
    await first;
    await until(() => slow.held.length === 1);
    slow.held.shift()?.();
    await second;
    expect(slow.mostAtOnce()).toBe(1);
    const saved = JSON.parse(readFileSync(join(dir, 'eventtypes.json'), 'utf8')) as {
      eventTypes: { type: string }[];
    };
    expect(saved.eventTypes.map((t) => t.type)).toEqual(['a', 'b']);
  });

  it('forgets persisted pairs the registry does not keep (over --event-types-max-length)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-eventtypes-'));
    dirs.push(dir);
    const long = 'x'.repeat(2000);
    const pair = (type: string) => ({ type, source: '/s', firstSeen: 1, lastSeen: 1, count: 1 });
    writeFileSync(join(dir, 'eventtypes.json'), JSON.stringify({ eventTypes: [pair(long), pair('a')] }));
    const { registry: r, metrics } = registry(new FileEventTypeBackend(dir, []));
    r.start();
    await until(() => r.size === 1);
    r.accepted([event('b')]);
    await r.stop();
    expect(await metric(metrics, 'herald_event_types_dropped_total', { reason: 'too-long' })).toBe(1);
    const saved = JSON.parse(readFileSync(join(dir, 'eventtypes.json'), 'utf8')) as {
      eventTypes: { type: string }[];
    };
    expect(saved.eventTypes.map((t) => t.type).sort()).toEqual(['a', 'b']);
  });

  it('sets an unreadable file aside (a write cut short) and goes on persisting, with a warning', async () => {
    // The file is replaced by a rename without an fsync, so after a power loss it can be empty or cut
    // short. Unparseable, it failed the backend's start every 2 s for ever: nothing seen was persisted
    // again until someone deleted the file.
    const dir = mkdtempSync(join(tmpdir(), 'herald-eventtypes-'));
    dirs.push(dir);
    const path = join(dir, 'eventtypes.json');
    const cut = '{"eventTypes":[{"type":"a","source":"/s","firstSe';
    writeFileSync(path, cut);
    const { registry: r, lines } = registry(new FileEventTypeBackend(dir, []));
    r.start();
    r.accepted([event('b')]);
    const written = () => {
      try {
        return (JSON.parse(readFileSync(path, 'utf8')) as { eventTypes: { type: string }[] }).eventTypes;
      } catch {
        return undefined;
      }
    };
    // Bounded by the test's timeout: before, the file never became readable again.
    await until(() => written() !== undefined);
    expect(written()?.map((t) => t.type)).toEqual(['b']);
    expect(readFileSync(`${path}.unreadable`, 'utf8')).toBe(cut);
    expect(lines.some((line) => line.includes('eventtypes.json') && line.includes('unreadable'))).toBe(true);
  }, 10_000);

  it('persists seen types in the data directory and restores them (counts add up) on the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-eventtypes-'));
    dirs.push(dir);
    const first = registry(new FileEventTypeBackend(dir, [{ type: 'a', description: 'declared' }])).registry;
    first.start();
    first.accepted([event('a'), event('a'), event('b', '/x')]);
    await first.stop();
    const saved = JSON.parse(readFileSync(join(dir, 'eventtypes.json'), 'utf8')) as { eventTypes: unknown[] };
    expect(saved.eventTypes).toHaveLength(2);

    const second = registry(new FileEventTypeBackend(dir, [])).registry;
    second.accepted([event('a')]);
    second.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second.list()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'a', source: '/s', count: 3 }),
        expect.objectContaining({ type: 'b', source: '/x', count: 1 }),
      ]),
    );
  });
});
