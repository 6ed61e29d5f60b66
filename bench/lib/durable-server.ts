// SPDX-License-Identifier: Apache-2.0
// (a)'s durable floor (bench/lib/durable-floor.ts) as the bench's child process, appending to a file in a
// temporary directory of its own. Prints {"port": N} on its first stdout line; stops on SIGTERM (removing
// the directory).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDurableFloor } from './durable-floor.js';
import { serveOnLoopback } from './serve.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-durable-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
serveOnLoopback(createDurableFloor(path.join(dir, 'log')));
