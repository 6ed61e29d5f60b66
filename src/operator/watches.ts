import { AppsV1Api, CoreV1Api, PolicyV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * The list of every kind of object the operator makes for a Broker, by watch path, each narrowed by
 * `selector` (the operator's label): a change or deletion of any of them re-reconciles its Broker.
 */
export function childLists(config: KubeConfig, selector: string): Record<string, () => Promise<unknown>> {
  const labelSelector = { labelSelector: selector };
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const rbac = config.makeApiClient(RbacAuthorizationV1Api);
  const policy = config.makeApiClient(PolicyV1Api);
  return {
    '/apis/apps/v1/statefulsets': () => apps.listStatefulSetForAllNamespaces(labelSelector),
    '/apis/apps/v1/deployments': () => apps.listDeploymentForAllNamespaces(labelSelector),
    '/api/v1/services': () => core.listServiceForAllNamespaces(labelSelector),
    '/api/v1/configmaps': () => core.listConfigMapForAllNamespaces(labelSelector),
    '/api/v1/serviceaccounts': () => core.listServiceAccountForAllNamespaces(labelSelector),
    '/apis/rbac.authorization.k8s.io/v1/roles': () => rbac.listRoleForAllNamespaces(labelSelector),
    '/apis/rbac.authorization.k8s.io/v1/rolebindings': () =>
      rbac.listRoleBindingForAllNamespaces(labelSelector),
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings': () =>
      rbac.listClusterRoleBinding(labelSelector),
    '/apis/policy/v1/poddisruptionbudgets': () =>
      policy.listPodDisruptionBudgetForAllNamespaces(labelSelector),
  };
}
