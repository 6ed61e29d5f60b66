import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { BrokerConfig } from '../config/index.js';
import type { DispatcherOptions } from '../dispatch/index.js';
import { HeraldError } from '../errors/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import { DefinitionSecrets, SecretBox, SensitiveHeaders } from '../sink-credentials/index.js';
import { parseSinkPolicy, SinkGuard } from '../sink-guard/index.js';
import type { SubscriptionServiceOptions } from '../subscriptions/index.js';

/** A file named by an option, read at start-up; unreadable = invalid configuration. */
function readConfigFile(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `${option}: ${(error as Error).message}`);
  }
}

/** How stored definitions keep their secrets: sealed with `--secret-key-file`, else as given. */
export function definitionSecrets(config: BrokerConfig): DefinitionSecrets {
  let box: SecretBox | undefined;
  if (config.secretKeyFile !== undefined) {
    try {
      box = SecretBox.fromFile(config.secretKeyFile);
    } catch (error) {
      throw new HeraldError('HERALD_INVALID_CONFIG', `--secret-key-file: ${(error as Error).message}`);
    }
  }
  return new DefinitionSecrets(box, SensitiveHeaders.parse(config.sensitiveHeaders));
}

/** The sink guard of `--sink-deny`/`--sink-allow`; the configured ports are the broker's own already. */
export function createSinkGuard(config: BrokerConfig, metrics: BrokerMetrics): SinkGuard {
  const policy = parseSinkPolicy(config.sinkDeny, config.sinkAllow);
  const guard = new SinkGuard({
    deny: policy.deny,
    allow: policy.allow,
    onRefusal: (stage) => metrics.sinkGuardRefusals.inc({ stage }),
  });
  // Known before listening unless 0 (then set again once the ports are chosen).
  guard.setOwnListeners(
    [config.port, config.adminPort ?? 0].filter((port) => port !== 0),
    config.host,
  );
  return guard;
}

/** What the dispatcher needs to reach sinks: the guard, the CA, the answer limit, the handshake, secrets. */
export function sinkDeliveryOptions(
  config: BrokerConfig,
  guard: SinkGuard,
  readSecret: ((name: string) => Promise<Record<string, string>>) | undefined,
): Partial<DispatcherOptions> {
  return {
    guard,
    sinkResponseLimit: config.sinkResponseLimit,
    ...(config.sinkCa === undefined ? {} : { sinkCa: readConfigFile(config.sinkCa, '--sink-ca') }),
    ...(config.sinkHandshake === 'required'
      ? { handshakeOrigin: config.sinkHandshakeOrigin ?? hostname() }
      : {}),
    ...(readSecret === undefined ? {} : { readSecret }),
  };
}

/** What the subscription service needs: the create-time sink check and where secrets may live. */
export function sinkSubscriptionOptions(
  config: BrokerConfig,
  guard: SinkGuard,
): Pick<SubscriptionServiceOptions, 'checkSink' | 'sensitiveHeaders' | 'secrets'> {
  return {
    checkSink: (url, pointer) => guard.checkUrl(url, pointer),
    sensitiveHeaders: SensitiveHeaders.parse(config.sensitiveHeaders),
    secrets: config.kubernetes ? 'secretRef' : 'inline',
  };
}
