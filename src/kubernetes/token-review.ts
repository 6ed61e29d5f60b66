import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/** A TokenReview's answer, as much of it as a caller needs. */
export interface ReviewedToken {
  readonly authenticated: boolean;
  readonly username?: string;
  readonly audiences?: readonly string[];
}

/**
 * Sends TokenReviews (authentication.k8s.io/v1) with the broker's own credentials, which need the
 * `tokenreviews` `create` permission (`system:auth-delegator`, granted by the operator).
 */
export function createTokenReviewer(
  config: KubeConfig,
): (token: string, audience: string) => Promise<ReviewedToken> {
  const api = config.makeApiClient(AuthenticationV1Api);
  return async (token, audience) => {
    const review = await api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [audience] },
      },
    });
    const status = review.status;
    return {
      authenticated: status?.authenticated === true,
      ...(status?.user?.username === undefined ? {} : { username: status.user.username }),
      ...(status?.audiences === undefined ? {} : { audiences: status.audiences }),
    };
  };
}
