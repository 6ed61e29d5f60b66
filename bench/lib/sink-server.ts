// SPDX-License-Identifier: Apache-2.0
// The benchmark sink: answers every delivery with 200 as soon as its body has arrived and keeps only
// counters and a latency histogram, never bodies. Latency is the time from the event's intended send
// time (the `benchsent` extension, epoch milliseconds with a fraction: binary-mode header `ce-benchsent`,
// or a `"benchsent"` member of a structured-mode body) to the arrival of the delivery here. Both processes
// read the same system clock (bench/lib/clock.ts), re-read here on every reset. Only POSTs are
// deliveries.
//
// As a Dapr app (bench/scenarios/dapr.ts) it answers `GET /dapr/subscribe` with the list last set by
// `POST /_dapr-subscribe` (daprd asks once at start).
//
// Control: GET /_stats (JSON), POST /_reset, POST /_dapr-subscribe. Prints {"port": N} on its first stdout line.
import { createServer } from 'node:http';
import { serveOnLoopback } from './serve.js';
import { epochNow, syncEpochClock } from './clock.js';
import * as hdr from 'hdr-histogram-js';

function newHistogram(): hdr.Histogram {
  // Microseconds from 1 µs to 120 s, 3 significant digits.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

let events = 0;
let requests = 0;
let firstAt = 0;
let lastAt = 0;
let latency = newHistogram();
let bySubscription = new Map<string, number>();
let daprSubscriptions = '[]';

function recordLatency(now: number, sent: number): void {
  const micros = Math.round((now - sent) * 1000);
  latency.recordValue(micros > 0 ? Math.min(micros, 120_000_000) : 1);
}

const BENCHSENT_MEMBER = /"benchsent":"?([0-9.]+)/;

function stats(): string {
  const count = latency.totalCount;
  const at = (p: number): number | null => (count === 0 ? null : latency.getValueAtPercentile(p) / 1000);
  return JSON.stringify({
    events,
    requests,
    firstAt,
    lastAt,
    subscriptions: bySubscription.size,
    bySubscription: Object.fromEntries(bySubscription),
    latencyMs: {
      count,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: count === 0 ? null : latency.maxValue / 1000,
      mean: count === 0 ? null : latency.mean / 1000,
    },
  });
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/_')) {
    if (url !== '/_dapr-subscribe' || req.method !== 'POST') req.resume();
    if (url === '/_stats') {
      const text = stats();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (url === '/_dapr-subscribe' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        daprSubscriptions = Buffer.concat(chunks).toString();
        res.writeHead(204).end();
      });
      return;
    }
    if (url === '/_reset' && req.method === 'POST') {
      events = requests = firstAt = lastAt = 0;
      latency = newHistogram();
      bySubscription = new Map();
      syncEpochClock();
      res.writeHead(204).end();
      return;
    }
    res.writeHead(404).end();
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    if (req.method === 'GET' && url === '/dapr/subscribe') {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(daprSubscriptions),
      });
      res.end(daprSubscriptions);
      return;
    }
    res.writeHead(404).end();
    return;
  }
  const now = epochNow();
  const batchSize = req.headers['herald-batch-size'];
  const count = typeof batchSize === 'string' ? Number(batchSize) : 1;
  const sent = req.headers['ce-benchsent'];
  if (typeof sent === 'string') recordLatency(now, Number(sent));
  // A structured-mode event carries its send time in the body: read it once the body is in.
  const structured =
    sent === undefined && (req.headers['content-type'] ?? '').startsWith('application/cloudevents+json');
  let body = '';
  const subscription = req.headers['herald-subscription'];
  if (typeof subscription === 'string')
    bySubscription.set(subscription, (bySubscription.get(subscription) ?? 0) + count);
  events += count;
  requests++;
  if (firstAt === 0) firstAt = now;
  lastAt = now;
  req.on('data', (chunk: Buffer) => {
    if (structured) body += chunk.toString('latin1');
  });
  req.on('end', () => {
    const member = structured ? BENCHSENT_MEMBER.exec(body) : null;
    if (member !== null) recordLatency(now, Number(member[1]));
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
});
serveOnLoopback(server);
