import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../../harness/processes.js';
import { removeDir } from '../../harness/processes.js';
import type { RawResponse } from '../../support/http.js';
import { binaryHeaders, metricValue, readLog, send } from '../../support/http.js';
import type { BrokerFactory } from './factory.js';

/**
 * What a publisher gets for a duplicate (`source`, `id`) within the dedupe window, on every store: the
 * answer of the first copy (`202`, empty body) and nothing stored again, whatever the content mode.
 */
export function describeDuplicateScenarios(store: string, startBroker: BrokerFactory): void {
  describe(`a duplicate event (${store})`, () => {
    let broker: BrokerProcess;

    beforeAll(async () => {
      broker = await startBroker();
    });
    afterAll(async () => {
      await broker.stop();
      removeDir(broker.dataDir);
    });

    const structured = (id: string, subject: string) => ({
      specversion: '1.0',
      id,
      source: '/dup',
      type: 'dev.herald.test',
      subject,
    });
    const answer = (response: RawResponse) => ({
      status: response.status,
      contentLength: response.headers['content-length'],
      body: response.text(),
    });

    it('answers 202 with an empty body, like the first copy, and is stored once', async () => {
      const first = await send(broker.url, {
        headers: binaryHeaders('dup-1', { 'ce-source': '/dup', 'ce-subject': 'first' }),
      });
      expect(answer(first)).toEqual({ status: 202, contentLength: '0', body: '' });
      const duplicates = [
        await send(broker.url, {
          headers: binaryHeaders('dup-1', { 'ce-source': '/dup', 'ce-subject': 'binary again' }),
        }),
        await send(broker.url, {
          headers: { 'content-type': 'application/cloudevents+json' },
          body: JSON.stringify(structured('dup-1', 'structured again')),
        }),
        // A batch holding the duplicate and a new event: the new one is stored, the duplicate is not.
        await send(broker.url, {
          headers: { 'content-type': 'application/cloudevents-batch+json' },
          body: JSON.stringify([structured('dup-1', 'batch again'), structured('dup-2', 'new')]),
        }),
      ];
      for (const duplicate of duplicates) expect(answer(duplicate)).toEqual(answer(first));

      const stored = (await readLog(broker.adminUrl)).filter((e) => e.event['source'] === '/dup');
      expect(stored.map((e) => [e.event['id'], e.event['subject']])).toEqual([
        ['dup-1', 'first'],
        ['dup-2', 'new'],
      ]);
      const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
      expect(metricValue(metrics, 'herald_events_duplicate_total')).toBe(3);
    });
  });
}
