import { HeraldError } from '../errors/index.js';
import type { SensitiveHeaders } from '../sink-credentials/index.js';
import type { SubscriptionDefinition } from './types.js';

export interface SinkCheckOptions {
  /** Refuses a sink URL the broker may not deliver to (throws a coded error); the sink guard. */
  readonly checkSink?: (url: string, pointer: string) => void;
  /**
   * Where secrets live: `inline` (standalone: in the stored definition, sealed with a key) or
   * `secretRef` (Kubernetes: the resource names a Secret, so it never holds the secret itself).
   */
  readonly secrets?: 'inline' | 'secretRef';
}

/** Refuses secrets in a form this broker cannot keep safe (see `secrets`). */
function checkSecrets(
  definition: SubscriptionDefinition,
  sensitiveHeaders: SensitiveHeaders,
  options: SinkCheckOptions,
): void {
  const credential = definition.sinkcredential;
  if (options.secrets === 'secretRef') {
    const sensitive = Object.keys(definition.protocolsettings?.headers ?? {}).find((h) =>
      sensitiveHeaders.has(h),
    );
    if ((credential !== undefined && !('secretRef' in credential)) || sensitive !== undefined) {
      throw new HeraldError(
        'HERALD_INVALID_REQUEST',
        'in Kubernetes mode a subscription is a resource anyone who can read it sees: put the credential in a Secret and reference it with sinkcredential.secretRef on the Subscription resource',
        { pointer: sensitive === undefined ? '/sinkcredential' : `/protocolsettings/headers/${sensitive}` },
      );
    }
  } else if (credential !== undefined && 'secretRef' in credential) {
    throw new HeraldError('HERALD_INVALID_REQUEST', 'sinkcredential.secretRef needs --kubernetes', {
      pointer: '/sinkcredential/secretRef',
    });
  }
}

/** The sink guard's create-time check of every address the definition delivers to, and its secrets. */
export function checkDefinitionSinks(
  definition: SubscriptionDefinition,
  sensitiveHeaders: SensitiveHeaders,
  options: SinkCheckOptions,
): void {
  checkSecrets(definition, sensitiveHeaders, options);
  const check = options.checkSink;
  if (check === undefined) return;
  check(definition.sink, '/sink');
  if (definition.delivery.deadLetterSink !== undefined)
    check(definition.delivery.deadLetterSink, '/delivery/deadLetterSink');
}
