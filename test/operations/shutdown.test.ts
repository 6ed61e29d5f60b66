// Acceptance: SIGTERM stops accepting, finishes the in-flight request (its event is stored), closes the
// store and exits 0.
import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { publish, subscribe } from '../harness/client.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { binaryHeaders, readLog, send, sleep } from '../support/http.js';

const brokers: BrokerProcess[] = [];
const sinks: SinkProcess[] = [];

afterAll(async () => {
  for (const s of sinks) await s.stop();
  for (const b of brokers) await b.stop('SIGKILL');
  for (const b of brokers) removeDir(b.dataDir);
});

/** Resolves with the first stdout log line of `broker` whose msg is `msg`. */
function logLine(broker: BrokerProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['msg'] === msg) {
          broker.child.stdout?.off('data', onData);
          resolve(entry);
        }
      }
    };
    broker.child.stdout?.on('data', onData);
  });
}

describe('SIGTERM', () => {
  it('finishes an in-flight request, then exits 0', async () => {
    const broker = await startBroker();
    brokers.push(broker);

    // A request whose body is still being sent when SIGTERM arrives.
    const url = new URL('/events', broker.url);
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...binaryHeaders('in-flight'), 'content-type': 'text/plain' },
    });
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    req.write('first half, ');
    req.flushHeaders();
    // Time for the broker to read the headers and count the request (more than enough unless loaded).
    await sleep(1_500);

    const stopping = logLine(broker, 'herald broker stopping');
    const exited = new Promise<number | null>((resolve) =>
      broker.child.once('exit', (code) => resolve(code)),
    );
    broker.child.kill('SIGTERM');
    expect((await stopping)['inFlight']).toBe(1);

    // New connections are refused once the broker is stopping.
    await expect(send(broker.url, { headers: binaryHeaders('too-late') })).rejects.toThrow();

    req.end('second half');
    const response = await answered;
    expect(response.status, response.body).toBe(202);
    expect(await exited).toBe(0);

    const restarted = await startBroker({ dataDir: broker.dataDir });
    brokers.push(restarted);
    const log = await readLog(restarted.adminUrl);
    expect(log.map((entry) => [entry.event['id'], entry.event['data']])).toEqual([
      ['in-flight', 'first half, second half'],
    ]);
    expect(await restarted.stop()).toBe(0);
  });

  it('finishes a delivery in flight, commits past it, then exits 0: no redelivery after a restart', async () => {
    const sink = await startSink();
    sinks.push(sink);
    await sink.configure({ status: 200, delayMs: 1500 });
    const broker = await startBroker();
    brokers.push(broker);
    await subscribe(broker.url, { sink: `${sink.url}/slow` });
    await publish(broker.url, { id: 'during-sigterm' });
    for (let i = 0; i < 400 && (await sink.inFlight()) === 0; i++) await sleep(25);
    expect(await sink.inFlight()).toBe(1);

    const stopping = logLine(broker, 'herald broker stopping');
    expect(await broker.stop('SIGTERM')).toBe(0);
    expect((await stopping)['msg']).toBe('herald broker stopping');
    // The broker waited for the sink's answer before it exited.
    const [delivery] = await sink.received();
    expect(delivery).toMatchObject({ status: 200, unanswered: false });
    expect(delivery!.headers['ce-id']).toBe('during-sigterm');

    await sink.configure({ delayMs: 0 });
    const restarted = await startBroker({ dataDir: broker.dataDir });
    brokers.push(restarted);
    await publish(restarted.url, { id: 'after-restart' });
    const records = await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === 'after-restart'));
    // The committed cursor was past the finished delivery: it is not sent again.
    expect(records.map((r) => r.headers['ce-id'])).toEqual(['during-sigterm', 'after-restart']);
    expect(await restarted.stop()).toBe(0);
  });
  it('with --shutdown-delay, answers /readyz 503 while it still takes publishes, until the delay has passed', async () => {
    // A delay far longer than the test: whatever the machine's speed, the broker is inside it throughout.
    const broker = await startBroker({ args: ['--shutdown-delay', '10m'] });
    brokers.push(broker);
    const unready = logLine(broker, 'unready; serving until --shutdown-delay has passed');
    broker.child.kill('SIGTERM');
    expect((await unready)['delayMs']).toBe(600_000);

    const readyz = await fetch(new URL('/readyz', broker.adminUrl));
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { cause?: string }).cause).toBe('shutting-down');
    // A new connection is still served, and told not to stay (the next one may reach another replica).
    const response = await send(broker.url, { headers: binaryHeaders('during-delay') });
    expect(response.status).toBe(202);
    expect(response.headers['connection']).toBe('close');

    // The acknowledged event is stored: it survives the process (killed, as a second SIGTERM would).
    expect(await broker.stop('SIGKILL')).not.toBe(0);
    const restarted = await startBroker({ dataDir: broker.dataDir });
    brokers.push(restarted);
    expect((await readLog(restarted.adminUrl)).map((entry) => entry.event['id'])).toEqual(['during-delay']);
    expect(await restarted.stop()).toBe(0);
  });
});
