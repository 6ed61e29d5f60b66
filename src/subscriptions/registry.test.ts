import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EmbeddedEventStore } from '../store/embedded/index.js';
import { StoreSubscriptionRegistry } from './registry.js';
import { describeRegistryConformance } from './testing/registry-conformance.js';

// A real SQLite file in a temporary directory, opened the way the store's own tests open it. The
// embedded store belongs to one process: there is no second replica, so the watch tests are skipped.
describeRegistryConformance(
  'store registry, embedded store',
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-registry-'));
    const store = new EmbeddedEventStore({ dataDir: dir, writer: 'inline', maintenanceIntervalMs: 0 });
    return Promise.resolve({
      registry: new StoreSubscriptionRegistry(store),
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  },
  { replicas: false },
);
