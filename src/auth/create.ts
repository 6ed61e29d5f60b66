import { readFileSync } from 'node:fs';
import type { BrokerConfig } from '../config/index.js';
import { HeraldError } from '../errors/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import { AccessControl } from './access.js';
import type { OwnershipLookup } from './access.js';
import { Authenticator } from './authenticator.js';
import { JwtVerifier } from './jwt.js';
import { parsePolicyFile, PolicySet } from './policy.js';
import { StaticTokens, TokensFileError } from './static-tokens.js';
import { ServiceAccountTokens } from './token-review.js';
import type { TokenReviewer } from './token-review.js';

export interface AccessControlDependencies {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  readonly ownership: OwnershipLookup;
  /** Needed with `--auth kubernetes`: sends TokenReviews (from the Kubernetes client). */
  readonly tokenReviewer?: TokenReviewer | undefined;
}

function invalid(problems: readonly string[]): HeraldError {
  return new HeraldError('HERALD_INVALID_CONFIG', problems.join('\n'));
}

/**
 * Builds access control from the configuration: the authenticator of `--auth`, the `--policy` rules
 * (compiled once; any problem refuses start-up, one line each) and the ownership lookup.
 */
export function createAccessControl(deps: AccessControlDependencies): {
  access: AccessControl;
  policy: PolicySet;
  close(): void;
} {
  const { config, logger, metrics } = deps;
  const { methods } = config.auth;
  let authenticator: Authenticator | undefined;
  if (methods.length > 0) {
    let tokens: StaticTokens | undefined;
    let jwt: JwtVerifier | undefined;
    try {
      if (methods.includes('tokens')) tokens = new StaticTokens(config.auth.tokensFile as string, logger);
      if (methods.includes('jwt')) {
        jwt = new JwtVerifier({
          jwks: config.auth.jwtJwks as string,
          issuers: config.auth.jwtIssuers,
          audience: config.auth.jwtAudience as string,
          logger,
          cooldownMs: config.auth.jwksCooldownMs,
        });
      }
    } catch (error) {
      tokens?.close();
      if (error instanceof TokensFileError) throw invalid(error.problems);
      throw invalid([`--auth: ${(error as Error).message}`]);
    }
    let kubernetes: ServiceAccountTokens | undefined;
    if (methods.includes('kubernetes')) {
      if (deps.tokenReviewer === undefined) throw invalid(['--auth kubernetes: no Kubernetes client']);
      kubernetes = new ServiceAccountTokens(
        deps.tokenReviewer,
        config.auth.kubernetesAudience,
        logger,
        config.auth.tokenReviewConcurrency,
      );
    }
    authenticator = new Authenticator({
      tokens,
      jwt,
      kubernetes,
      maxAuthorizationSize: config.auth.maxAuthorizationSize,
    });
  }
  // Without authentication every caller is `anonymous`: the default lets it do everything, unless the
  // operator asked for `deny` (then only rules naming `anonymous` grant anything).
  const policy = new PolicySet(
    authenticator === undefined && config.authzDefault === 'allow-authenticated'
      ? 'allow-all'
      : config.authzDefault,
  );
  if (config.policyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.policyFile, 'utf8');
    } catch (error) {
      authenticator?.close();
      throw invalid([`--policy: ${(error as Error).message}`]);
    }
    const { rules, problems } = parsePolicyFile(text, config.policyFile);
    if (problems.length > 0) {
      authenticator?.close();
      throw invalid(problems);
    }
    policy.set('file', rules);
  }
  const access = new AccessControl({
    authenticator,
    policy,
    metrics,
    ownership: deps.ownership,
    allowedHosts: config.auth.allowedHosts,
  });
  return { access, policy, close: () => authenticator?.close() };
}
