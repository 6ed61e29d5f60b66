// An in-place upgrade of the embedded store: a data directory written by an older build (checked in under
// test/fixtures/upgrade/embedded-<commit>/, see its README.md) is opened by this build's broker, which must
// answer what the old one answered — every event with its exact attributes and data, the subscriptions
// with their policies and cursors, the dead letters — and go on from there: a paused subscription resumes
// after its last acknowledged event (nothing acknowledged delivered again, nothing skipped), the dead
// letters redrive, and an old event sent again inside the dedupe window is not stored again.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { brokerArgv, removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess, SinkRecord } from '../harness/processes.js';
import { requestJson } from '../harness/client.js';
import { readLog } from '../support/http.js';
import type { LogEntry } from '../support/http.js';
import { until } from '../../src/testing/until.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/upgrade');

interface Manifest {
  readonly orders: string;
  readonly refunds: string;
  readonly audits: string;
  readonly log: LogEntry[];
  readonly subscriptions: Array<Record<string, unknown> & { id: string; status: Record<string, unknown> }>;
  readonly deadLetters: unknown[];
  readonly auditLetters: Letter[];
}

interface Letter {
  readonly id: string;
  readonly sequence: number;
  readonly event: Record<string, unknown>;
}

/** The flags the fixtures were written with: a window and letter age that never let them expire. */
const FLAGS = ['--dedupe-window', '36500d', '--dead-letter-max-age', '0'];

let brokers: BrokerProcess[] = [];
let sinks: SinkProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all([...brokers.map((b) => b.stop('SIGKILL')), ...sinks.map((s) => s.stop())]);
  brokers = [];
  sinks = [];
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** A copy of the fixture's data directory (the broker writes to it) and its manifest. */
function fixture(name: string): { dataDir: string; manifest: Manifest } {
  const dataDir = mkdtempSync(path.join(tmpdir(), `herald-upgrade-${name}-`));
  dirs.push(dataDir);
  cpSync(path.join(FIXTURES, name, 'datadir'), dataDir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(FIXTURES, name, 'manifest.json'), 'utf8')) as Manifest;
  return { dataDir, manifest };
}

async function publishStructured(url: string, event: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', source: '/upgrade', ...event }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** What a subscription says of itself that an upgrade must keep (lastError is the process's own). */
function kept(subscription: Manifest['subscriptions'][number]): Record<string, unknown> {
  const { status, ...definition } = subscription;
  return {
    ...definition,
    status: { state: status['state'], cursor: status['cursor'], deadLettered: status['deadLettered'] },
  };
}

/** The definition of a subscription as a PUT takes it, with its sink moved to `sink`. */
function moved(subscription: Manifest['subscriptions'][number], sink: string): Record<string, unknown> {
  const { status: _status, id: _id, ...definition } = subscription;
  return { ...definition, sink };
}

const idOf = (record: SinkRecord): string | undefined => {
  const header = record.headers['ce-id'];
  if (header !== undefined) return header;
  return (JSON.parse(Buffer.from(record.body, 'base64').toString('utf8')) as { id?: string }).id;
};

describe.each(['embedded-cdc6d47', 'embedded-5ed7e4a'])('a store written by %s', (name) => {
  it('is opened with every event, subscription, cursor and dead letter, and goes on from there', async () => {
    const { dataDir, manifest } = fixture(name);
    const broker = await startBroker({ dataDir, args: FLAGS });
    const sink = await startSink();
    brokers.push(broker);
    sinks.push(sink);

    // Every event as the old build stored it: sequences, attributes, data.
    expect(await readLog(broker.adminUrl)).toEqual(manifest.log);

    // The subscriptions with their policies, states and cursors.
    const listed = await requestJson<Manifest['subscriptions']>('GET', `${broker.adminUrl}/subscriptions`);
    expect(listed.status).toBe(200);
    expect(listed.body.map(kept)).toEqual(manifest.subscriptions.map(kept));

    // The dead letters, each as it was.
    const letters = await requestJson<{ deadLetters: unknown[] }>(
      'GET',
      `${broker.adminUrl}/subscriptions/${manifest.refunds}/deadletters`,
    );
    expect(letters.body.deadLetters).toEqual(manifest.deadLetters);

    // An old event sent again is inside the window: acknowledged, not stored again.
    const last = manifest.log.at(-1)?.sequence ?? 0;
    expect(
      await publishStructured(broker.url, { id: 'o1', type: 'com.example.order', data: { again: true } }),
    ).toBe(202);
    expect(
      await publishStructured(broker.url, { id: 'o6', type: 'com.example.order', data: { total: 6 } }),
    ).toBe(202);
    const log = await readLog(broker.adminUrl);
    expect(log.map((entry) => [entry.sequence, entry.event['id']]).slice(manifest.log.length)).toEqual([
      [last + 1, 'o6'],
    ]);

    // `orders` resumes after its last acknowledged event: o4, o5 (which arrived while it was paused)
    // and o6, in order (strict), none of o1–o3 again.
    const orders = manifest.subscriptions.find((s) => s.id === manifest.orders)!;
    const put = await requestJson(
      'PUT',
      `${broker.adminUrl}/subscriptions/${manifest.orders}`,
      moved(orders, `${sink.url}/orders`),
    );
    expect(put.status).toBe(200);
    expect(
      (await requestJson('POST', `${broker.adminUrl}/subscriptions/${manifest.orders}/resume`)).status,
    ).toBe(200);
    const atOrders = await sink.waitFor((records) => records.some((r) => idOf(r) === 'o6'));
    expect(atOrders.filter((r) => r.path === '/orders').map(idOf)).toEqual(['o4', 'o5', 'o6']);

    // `refunds`' dead letters redrive to its new sink, exactly as they were published, and leave the store.
    const refunds = manifest.subscriptions.find((s) => s.id === manifest.refunds)!;
    await requestJson(
      'PUT',
      `${broker.adminUrl}/subscriptions/${manifest.refunds}`,
      moved(refunds, `${sink.url}/refunds`),
    );
    const redrive = await requestJson(
      'POST',
      `${broker.adminUrl}/subscriptions/${manifest.refunds}/deadletters/redrive`,
    );
    expect(redrive.status).toBe(202);
    const atRefunds = (
      await sink.waitFor((records) => records.filter((r) => r.path === '/refunds').length >= 2)
    ).filter((r) => r.path === '/refunds');
    const byId = new Map(atRefunds.map((r) => [idOf(r), Buffer.from(r.body, 'base64')]));
    expect([...byId.keys()].sort()).toEqual(['r1', 'r2']);
    expect([...(byId.get('r1') ?? [])]).toEqual([9, 8, 7, 0, 255]);
    expect(JSON.parse(byId.get('r2')?.toString('utf8') ?? '')).toEqual({ amount: -5 });
    await until(
      'the redriven letters to leave the store',
      async () => {
        const after = await requestJson<{ deadLetters: unknown[] }>(
          'GET',
          `${broker.adminUrl}/subscriptions/${manifest.refunds}/deadletters`,
        );
        return after.body.deadLetters.length === 0;
      },
      20_000,
    );
  }, 90_000);

  it('keeps a letter it stored before its cursor passed the event as that letter: refused again, not stored twice', async () => {
    // The old build was stopped while the sink held a1 and after it had refused a2: a2's letter is stored,
    // and the cursor, which cannot pass a1, is still before both. Delivered again and refused again, a2 is
    // the letter already stored (as it is for letters this build stores: keyed), a1 a new one.
    const { dataDir, manifest } = fixture(name);
    const broker = await startBroker({ dataDir, args: FLAGS });
    const refusing = await startSink();
    brokers.push(broker);
    sinks.push(refusing);
    await refusing.configure({ status: 400 });
    const sequenceOf = (id: string) => manifest.log.find((entry) => entry.event['id'] === id)?.sequence ?? 0;
    const audits = manifest.subscriptions.find((s) => s.id === manifest.audits)!;
    expect(audits.status['cursor']).toBe(sequenceOf('a1'));
    expect(manifest.auditLetters.map((letter) => letter.event['id'])).toEqual(['a2']);

    const url = `${broker.adminUrl}/subscriptions/${manifest.audits}`;
    expect((await requestJson('PUT', url, moved(audits, `${refusing.url}/audits`))).status).toBe(200);
    expect((await requestJson('POST', `${url}/resume`)).status).toBe(200);
    await refusing.waitFor((records) => ['a1', 'a2'].every((id) => records.some((r) => idOf(r) === id)));
    // The cursor passes a2 only once its letter is stored (or found stored).
    await until('the cursor to pass a2', async () => {
      const status = (await requestJson<{ status: { cursor: number } }>('GET', url)).body.status;
      return status.cursor > sequenceOf('a2');
    });
    const letters = (await requestJson<{ deadLetters: Letter[] }>('GET', `${url}/deadletters`)).body
      .deadLetters;
    expect(letters.map((letter) => letter.event['id']).sort()).toEqual(['a1', 'a2']);
    expect(letters.find((letter) => letter.event['id'] === 'a2')?.id).toBe(manifest.auditLetters[0]?.id);
  }, 60_000);
});

describe('a store written by a newer build', () => {
  it('is refused at start-up, naming what to do, and left as it was', () => {
    const { dataDir } = fixture('embedded-5ed7e4a');
    const file = path.join(dataDir, 'default.db');
    // What a later format would be: this build knows format 1.
    const db = new Database(file);
    db.pragma('user_version = 2');
    db.close();
    const before = readFileSync(file);
    const run = spawnSync(process.execPath, brokerArgv(dataDir, FLAGS), {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('written by a newer Herald');
    expect(run.stderr).toContain('run the newer build on it');
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});
