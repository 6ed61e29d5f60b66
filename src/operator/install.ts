import { stringify as toYaml } from 'yaml';
import { GROUP, customResourceDefinitions } from '../k8s-api/index.js';

export const INSTALL_NAMESPACE = 'herald-system';

const everything = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/**
 * Everything `kubectl apply -f deploy/herald.yaml` installs: the namespace, the CRDs, the operator's
 * service account and RBAC, and the operator Deployment. `deploy/herald.yaml` is this, printed by
 * `herald manifests` (a test keeps the file and the code equal).
 */
export function installManifests(image: string): Array<Record<string, unknown>> {
  const labels = { 'app.kubernetes.io/name': 'herald-operator', 'app.kubernetes.io/part-of': 'herald' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: INSTALL_NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'herald' } },
    },
    ...customResourceDefinitions(),
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'herald-operator', namespace: INSTALL_NAMESPACE, labels },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'herald-operator', labels },
      rules: [
        {
          apiGroups: [GROUP],
          resources: ['brokers', 'channels'],
          verbs: ['get', 'list', 'watch', 'update', 'patch'],
        },
        {
          apiGroups: [GROUP],
          resources: ['brokers/status', 'channels/status'],
          verbs: ['get', 'update', 'patch'],
        },
        // The children's owner references set blockOwnerDeletion, which clusters with the
        // OwnerReferencesPermissionEnforcement admission plugin (OpenShift) allow only to who may update
        // the owner's finalizers.
        { apiGroups: [GROUP], resources: ['brokers/finalizers', 'channels/finalizers'], verbs: ['update'] },
        // Held so that the operator may grant them to each broker's Role (RBAC forbids granting more than one holds).
        {
          apiGroups: [GROUP],
          resources: ['subscriptions'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
        },
        { apiGroups: [GROUP], resources: ['subscriptions/status'], verbs: ['get', 'patch'] },
        // Granted to brokers, which read the Secrets their sink credentials name, and read by the operator
        // itself for the key names of a jetstream Channel's credentialsSecret; never list or watch.
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        { apiGroups: [GROUP], resources: ['eventtypes'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: [GROUP], resources: ['eventtypes/status'], verbs: ['get', 'patch'] },
        { apiGroups: [GROUP], resources: ['eventpolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [GROUP], resources: ['eventpolicies/status'], verbs: ['get', 'patch'] },
        { apiGroups: [''], resources: ['serviceaccounts', 'services', 'configmaps'], verbs: everything },
        { apiGroups: ['apps'], resources: ['statefulsets', 'deployments'], verbs: everything },
        // Each broker's PodDisruptionBudget (node drains take its replicas one at a time).
        { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: everything },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: everything },
        // Each broker's ServiceAccount is bound to system:auth-delegator (TokenReviews): the operator may
        // manage those bindings and bind that one ClusterRole, nothing more.
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterrolebindings'],
          verbs: everything,
        },
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterroles'],
          verbs: ['bind'],
          resourceNames: ['system:auth-delegator'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'herald-operator', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'herald-operator' },
      subjects: [{ kind: 'ServiceAccount', name: 'herald-operator', namespace: INSTALL_NAMESPACE }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'herald-operator', namespace: INSTALL_NAMESPACE, labels },
      spec: {
        replicas: 1,
        // The operator has no leader election: one may run at a time. A rolling update (the default) starts
        // the new version beside the old one, and the two, with the same field manager and different
        // images, each applied its own pod template over the other's, rolling every broker back and forth.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'herald-operator',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 10001,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'operator',
                image,
                args: ['operator'],
                env: [{ name: 'HERALD_IMAGE', value: image }],
                resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
          },
        },
      },
    },
  ];
}

export function installYaml(image: string): string {
  return installManifests(image)
    .map((object) => toYaml(object, { lineWidth: 0 }))
    .join('---\n');
}
