// SPDX-License-Identifier: Apache-2.0
// (e)'s JetStream floor (bench/lib/jetstream-floor.ts) as the bench's child process, on the server core
// beside nats-server where the broker runs. NATS_URL names the server (the floor's stream goes with the
// server's temporary directory). Prints {"port": N} on its first stdout line; stops on SIGTERM.
import { createJetStreamFloor } from './jetstream-floor.js';
import { serveOnLoopback } from './serve.js';

const floor = await createJetStreamFloor(process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222');
serveOnLoopback(floor.server);
