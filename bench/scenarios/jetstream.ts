// SPDX-License-Identifier: Apache-2.0
// (e) Ingress on the JetStream store: the same load as (a) against `herald broker --store jetstream`,
// compared with direct `@nats-io/jetstream` async publishing of 1 KB messages to a stream on the same
// nats-server. Runs when the adapter is built (dist/store/jetstream) and a nats-server binary exists;
// otherwise the rows say "not available" and why.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';
import { STRUCTURED, structuredEvents } from '../lib/events.js';
import type { CpuShare } from '../lib/cpu-share.js';
import { formatCpuShare, watchCpuShare } from '../lib/cpu-share.js';
import type { ThroughputResult } from '../lib/load.js';
import { runAutocannon } from '../lib/load.js';
import type { DirectPublishResult, NatsHandle } from '../lib/nats.js';
import { directPublish, natsServerBinary, startNats } from '../lib/nats.js';
import { ROOT, startBroker } from '../lib/processes.js';
import { monotonicMicros, summariseProfile } from '../lib/profile.js';
import { formatNumber } from '../lib/report.js';

const NAME = 'ingress on the JetStream store, 1 structured 1 KB event per request, 50 connections';

export const jetStream: Scenario = {
  id: 'e',
  title: 'ingress on the JetStream store',
  async run(context) {
    const out = output();
    const binary = natsServerBinary();
    const adapterBuilt = existsSync(path.join(ROOT, 'dist/store/jetstream/index.js'));
    if (binary === undefined) {
      out.rows.push({
        scenario: 'e',
        name: NAME,
        value: null,
        unit: 'req/s',
        unavailable: 'no nats-server binary; build it with bash test/infra/nats/build.sh',
      });
      return out;
    }
    let nats: NatsHandle | undefined;
    let direct: DirectPublishResult | undefined;
    let herald: ThroughputResult | undefined;
    let unavailable: string | undefined;
    let profile: string | undefined;
    let directShare: CpuShare | undefined;
    let heraldShare: CpuShare | undefined;
    const window = { fromUs: 0, toUs: 0 };
    try {
      nats = await startNats(binary, context.placement);
      context.log(`  direct @nats-io/jetstream async publish, 1 KB, window 256, ${context.measureSec} s`);
      const natsCpu = nats;
      const natsServer = { name: 'nats-server', cpuMs: () => natsCpu.cpuMs() };
      const directWatch = watchCpuShare({ others: [natsServer] });
      direct = await directPublish(nats.url, 1024, context.measureSec);
      directShare = directWatch.stop();
      context.log(`  direct: ${formatNumber(direct.messagesPerSec)} msg/s`);
      if (!adapterBuilt) {
        unavailable = 'the JetStream adapter (src/store/jetstream) is not built yet';
      } else {
        let broker;
        try {
          broker = await startBroker({
            placement: context.placement,
            name: 'ingress-jetstream',
            ...(context.profileDir === undefined ? {} : { cpuProfDir: context.profileDir }),
            args: ['--store', 'jetstream', '--nats-url', nats.url, '--durability', 'fsync'],
          });
        } catch (error) {
          unavailable = `the broker did not start with --store jetstream: ${((error as Error).message.split('\n')[0] ?? '').slice(0, 200)}`;
        }
        if (broker !== undefined) {
          try {
            const headers = { 'content-type': STRUCTURED };
            const url = `${broker.url}/`;
            await runAutocannon({
              url,
              connections: 50,
              durationSec: context.warmupSec,
              headers,
              body: structuredEvents(1024),
            });
            window.fromUs = monotonicMicros();
            const heraldWatch = watchCpuShare({ broker: broker.process, others: [natsServer] });
            herald = await runAutocannon({
              url,
              connections: 50,
              durationSec: context.measureSec,
              headers,
              body: structuredEvents(1024),
            });
            heraldShare = heraldWatch.stop();
            window.toUs = monotonicMicros();
            context.log(`  herald on jetstream: ${formatNumber(herald.requestsPerSec)} req/s`);
          } finally {
            profile = await broker.stop();
          }
        }
      }
    } finally {
      await nats?.stop();
    }
    const baseline =
      direct === undefined
        ? undefined
        : {
            name: 'direct @nats-io/jetstream async publish (window 256)',
            value: direct.messagesPerSec,
            unit: 'msg/s',
          };
    out.rows.push({
      scenario: 'e',
      name: NAME,
      value: herald?.requestsPerSec ?? null,
      unit: 'req/s',
      ...(herald === undefined
        ? {}
        : {
            detail:
              `p50 ${herald.latencyMs.p50} ms, p99 ${herald.latencyMs.p99} ms${herald.non2xx > 0 ? `, ${herald.non2xx} non-2xx` : ''}` +
              (heraldShare === undefined ? '' : `, ${formatCpuShare(heraldShare)}`),
          }),
      ...(baseline === undefined ? {} : { baseline }),
      ...(unavailable === undefined ? {} : { unavailable }),
      target: { kind: 'ratio-to-baseline', min: 0.5 },
      data: { herald, direct, heraldShare, directShare },
    });
    if (profile !== undefined && herald !== undefined) {
      out.profiles.push({
        title: 'broker during (e) ingress on the JetStream store, measured run only',
        summary: summariseProfile(profile, 15, window),
      });
    }
    if (direct !== undefined) {
      out.notes.push(
        `JetStream baseline: 1 KB messages with a msgID each, 256 acks outstanding, file storage, ${formatNumber(direct.published)} messages in ${context.measureSec} s; ${context.placement.pin ? 'nats-server on the server core' : 'nothing pinned'}` +
          (directShare === undefined ? '.' : `; ${formatCpuShare(directShare, 'publisher')}.`),
      );
    }
    return out;
  },
};
