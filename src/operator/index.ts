export { Operator, FINALIZER } from './operator.js';
export type { OperatorOptions } from './operator.js';
export { brokerChildren, brokerConfigFile, childName, brokerUrl, MANAGED_BY } from './resources.js';
export type { KubeObject, OperatorSettings } from './resources.js';
export { installManifests, installYaml, INSTALL_NAMESPACE } from './install.js';
