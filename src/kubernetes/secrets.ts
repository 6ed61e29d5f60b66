import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * Reads a Secret's data (decoded) in the broker's namespace: how a Subscription resource's
 * `sinkcredential.secretRef` becomes a credential without the resource ever holding it.
 */
export function secretReader(
  config: KubeConfig,
  namespace: string,
): (name: string) => Promise<Record<string, string>> {
  const api = config.makeApiClient(CoreV1Api);
  return async (name) => {
    const secret = await api.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value, 'base64').toString('utf8'),
      ]),
    );
  };
}
