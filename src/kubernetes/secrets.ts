import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { LABEL_SINK_CREDENTIAL } from '../k8s-api/index.js';

/**
 * Reads a Secret's data (decoded) in the broker's namespace: how a Subscription resource's
 * `sinkcredential.secretRef` becomes a credential without the resource ever holding it. Only a Secret
 * labelled `eventing.herald.dev/sink-credential: "true"` is read: whoever may write a Subscription but not
 * read Secrets could otherwise name any Secret of the namespace (a database password, a TLS key) and
 * have the broker send it to their sink.
 */
export function secretReader(
  config: KubeConfig,
  namespace: string,
): (name: string) => Promise<Record<string, string>> {
  const api = config.makeApiClient(CoreV1Api);
  return async (name) => {
    const secret = await api.readNamespacedSecret({ name, namespace });
    if (secret.metadata?.labels?.[LABEL_SINK_CREDENTIAL] !== 'true') {
      throw new Error(
        `Secret '${name}' is not labelled ${LABEL_SINK_CREDENTIAL}: "true"; the broker reads only Secrets meant as sink credentials`,
      );
    }
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value, 'base64').toString('utf8'),
      ]),
    );
  };
}
