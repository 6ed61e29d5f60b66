// A refused event is stored as one dead letter across a SIGKILL, on the embedded store (the scenarios:
// test/delivery/scenarios/dead-letter-crash.ts; on JetStream: test/jetstream/dead-letter-crash.test.ts).
import { afterAll } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { describeDeadLetterCrashScenarios } from './scenarios/dead-letter-crash.js';

const started: BrokerProcess[] = [];
afterAll(async () => {
  for (const broker of started) {
    await broker.stop('SIGKILL');
    removeDir(broker.dataDir);
  }
});

// Each scenario's first start makes a fresh data directory; its restart reuses the killed broker's.
describeDeadLetterCrashScenarios('embedded', async (previous) => {
  const broker = await startBroker(previous === undefined ? {} : { dataDir: previous.dataDir });
  started.push(broker);
  return broker;
});
