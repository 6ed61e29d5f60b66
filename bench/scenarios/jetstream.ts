// SPDX-License-Identifier: Apache-2.0
// (e) Ingress on the JetStream store: the same load as (a) against `herald broker --store jetstream`,
// compared with direct `@nats-io/jetstream` async publishing of 1 KB messages to a stream on the same
// nats-server, measured as (a) is: in alternating rounds that share the machine's drift. Runs when the
// adapter is built (dist/store/jetstream) and a nats-server binary exists; otherwise the rows say "not
// available" and why.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Scenario } from '../lib/context.js';
import { alternatingRounds, output } from '../lib/context.js';
import type { CpuShare } from '../lib/cpu-share.js';
import { formatCpuShare, meanCpuShare, watchCpuShare } from '../lib/cpu-share.js';
import type { ThroughputResult } from '../lib/load.js';
import { combineThroughput, runStructuredLoad } from '../lib/load.js';
import type { DirectPublisher, NatsHandle } from '../lib/nats.js';
import { natsServerBinary, openDirectPublisher, startNats } from '../lib/nats.js';
import type { BrokerHandle } from '../lib/processes.js';
import type { ServerHandle } from '../lib/processes.js';
import { ROOT, startBroker, startJetStreamFloorServer } from '../lib/processes.js';
import { monotonicMicros, summariseProfile } from '../lib/profile.js';
import { formatNumber } from '../lib/report.js';

const NAME = 'ingress on the JetStream store, 1 structured 1 KB event per request, 50 connections';

interface DirectResult {
  readonly messagesPerSec: number;
  readonly published: number;
  readonly window: number;
}

interface Round {
  readonly direct: { readonly published: number; readonly seconds: number; readonly share: CpuShare };
  readonly herald?: { readonly result: ThroughputResult; readonly share: CpuShare };
  readonly floor?: { readonly result: ThroughputResult; readonly share: CpuShare };
}

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
    let publisher: DirectPublisher | undefined;
    let unavailable: string | undefined;
    let profile: string | undefined;
    let floorServer: ServerHandle | undefined;
    const rounds: Round[] = [];
    const window = { fromUs: 0, toUs: 0 };
    try {
      nats = await startNats(binary, context.placement);
      const natsCpu = nats;
      const natsServer = { name: 'nats-server', cpuMs: () => natsCpu.cpuMs() };
      const direct = await openDirectPublisher(nats.url, 1024);
      publisher = direct;
      context.log(`  direct @nats-io/jetstream async publish, 1 KB, window ${direct.window}: warm-up 1 s`);
      await direct.run(1_000);
      let broker: BrokerHandle | undefined;
      // The least a broker must do to answer after the PubAck (bench/lib/jetstream-floor.ts).
      floorServer = await startJetStreamFloorServer(context.placement, nats.url);
      if (!adapterBuilt) {
        unavailable = 'the JetStream adapter (src/store/jetstream) is not built yet';
      } else {
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
      }
      try {
        const url = broker === undefined ? undefined : `${broker.url}/`;
        const floorUrl = `${floorServer.url}/`;
        context.log(`  JetStream floor: warm-up ${context.warmupSec} s`);
        await runStructuredLoad(floorUrl, context.warmupSec);
        if (url !== undefined) {
          context.log(`  herald on jetstream: warm-up ${context.warmupSec} s`);
          await runStructuredLoad(url, context.warmupSec);
        }
        const split = alternatingRounds(context);
        context.log(`  measuring ${split.rounds} alternating rounds of ${split.seconds} s each`);
        const measureDirect = async (): Promise<Round['direct']> => {
          const watch = watchCpuShare({ others: [natsServer] });
          const run = await direct.run(split.seconds * 1000);
          return { ...run, share: watch.stop() };
        };
        const running = broker;
        const measureHerald =
          url === undefined || running === undefined
            ? undefined
            : async (): Promise<NonNullable<Round['herald']>> => {
                const fromUs = monotonicMicros();
                const watch = watchCpuShare({ broker: running.process, others: [natsServer] });
                const result = await runStructuredLoad(url, split.seconds);
                const share = watch.stop();
                // The profile covers the last round of Herald's, not the direct rounds the broker sat out.
                window.fromUs = fromUs;
                window.toUs = monotonicMicros();
                return { result, share };
              };
        const floorProcess = floorServer.process;
        const measureFloor = async (): Promise<NonNullable<Round['floor']>> => {
          const watch = watchCpuShare({ broker: floorProcess, others: [natsServer] });
          const result = await runStructuredLoad(floorUrl, split.seconds);
          return { result, share: watch.stop() };
        };
        for (let round = 0; round < split.rounds; round++) {
          // Direct, floor, Herald in even rounds; Herald, floor, direct in odd ones.
          const even = round % 2 === 0;
          let herald: Round['herald'];
          if (!even) herald = await measureHerald?.();
          const directFirst = even ? await measureDirect() : undefined;
          const floor = await measureFloor();
          if (even) herald = await measureHerald?.();
          const directRun = directFirst ?? (await measureDirect());
          rounds.push({ direct: directRun, floor, ...(herald === undefined ? {} : { herald }) });
        }
      } finally {
        if (broker !== undefined) profile = await broker.stop();
      }
    } finally {
      await floorServer?.stop();
      await publisher?.close();
      await nats?.stop();
    }
    const directSeconds = rounds.reduce((sum, r) => sum + r.direct.seconds, 0);
    const direct: DirectResult | undefined =
      rounds.length === 0 || publisher === undefined
        ? undefined
        : {
            messagesPerSec: rounds.reduce((sum, r) => sum + r.direct.published, 0) / directSeconds,
            published: rounds.reduce((sum, r) => sum + r.direct.published, 0),
            window: publisher.window,
          };
    const directShare =
      rounds.length === 0
        ? undefined
        : meanCpuShare(rounds.map((r) => ({ share: r.direct.share, seconds: r.direct.seconds })));
    const heraldRounds = rounds.flatMap((r) => (r.herald === undefined ? [] : [r.herald]));
    const herald =
      heraldRounds.length === 0 ? undefined : combineThroughput(heraldRounds.map((r) => r.result));
    const heraldShare =
      heraldRounds.length === 0
        ? undefined
        : meanCpuShare(heraldRounds.map((r) => ({ share: r.share, seconds: r.result.durationSec })));
    const roundRatios = rounds.flatMap((r) =>
      r.herald === undefined
        ? []
        : [r.herald.result.requestsPerSec / (r.direct.published / r.direct.seconds)],
    );
    const floorRounds = rounds.flatMap((r) => (r.floor === undefined ? [] : [r.floor]));
    const floor = floorRounds.length === 0 ? undefined : combineThroughput(floorRounds.map((r) => r.result));
    const floorShare =
      floorRounds.length === 0
        ? undefined
        : meanCpuShare(floorRounds.map((r) => ({ share: r.share, seconds: r.result.durationSec })));
    const floorRatios = rounds.flatMap((r) =>
      r.floor === undefined ? [] : [r.floor.result.requestsPerSec / (r.direct.published / r.direct.seconds)],
    );
    if (direct !== undefined) context.log(`  direct: ${formatNumber(direct.messagesPerSec)} msg/s`);
    if (floor !== undefined) context.log(`  JetStream floor: ${formatNumber(floor.requestsPerSec)} req/s`);
    if (herald !== undefined)
      context.log(`  herald on jetstream: ${formatNumber(herald.requestsPerSec)} req/s`);
    const baseline =
      direct === undefined
        ? undefined
        : {
            name: `direct @nats-io/jetstream async publish (window ${direct.window})`,
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
              (heraldShare === undefined ? '' : `, ${formatCpuShare(heraldShare)}`) +
              (roundRatios.length > 1
                ? `, ratio per alternating round ${roundRatios.map((r) => r.toFixed(2)).join(' / ')}`
                : '') +
              (floor === undefined
                ? ''
                : `, ${(herald.requestsPerSec / floor.requestsPerSec).toFixed(2)} × the JetStream floor below`),
          }),
      ...(baseline === undefined ? {} : { baseline }),
      ...(unavailable === undefined ? {} : { unavailable }),
      target: { kind: 'ratio-to-baseline', min: 0.5 },
      data: { herald, direct, heraldShare, directShare, roundRatios, floor, floorShare },
    });
    if (floor !== undefined) {
      // No target: the ceiling any broker answering after the PubAck has here, for reading (e)'s ratio.
      out.rows.push({
        scenario: 'e',
        name: 'JetStream floor: node:http parsing each body, the events of a turn published together, 202 on each PubAck, 50 connections',
        value: floor.requestsPerSec,
        unit: 'req/s',
        detail:
          `p50 ${floor.latencyMs.p50} ms, p99 ${floor.latencyMs.p99} ms` +
          (floorShare === undefined ? '' : `, ${formatCpuShare(floorShare)}`) +
          (floorRatios.length > 1
            ? `, ratio per alternating round ${floorRatios.map((r) => r.toFixed(2)).join(' / ')}`
            : ''),
        ...(baseline === undefined ? {} : { baseline }),
        data: { floor, floorShare, floorRatios },
      });
    }
    if (profile !== undefined && herald !== undefined) {
      out.profiles.push({
        title: 'broker during (e) ingress on the JetStream store, its last measured round',
        summary: summariseProfile(profile, 15, window),
      });
    }
    if (direct !== undefined) {
      out.notes.push(
        `JetStream baseline: 1 KB messages with a msgID each, ${direct.window} acks outstanding, file storage, ${formatNumber(direct.published)} messages in ${rounds.length} rounds of ${rounds[0] === undefined ? 0 : Math.round(rounds[0].direct.seconds)} s alternating with Herald's; ${context.placement.pin ? 'nats-server on the server core' : 'nothing pinned'}` +
          (directShare === undefined ? '.' : `; ${formatCpuShare(directShare, 'publisher')}.`),
      );
    }
    return out;
  },
};
