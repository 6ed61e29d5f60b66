export * from './schemas.js';
export { customResourceDefinitions, toStructural } from './crds.js';
export {
  resourceToDefinition,
  definitionToResource,
  incarnationOf,
  resolveSink,
  LABEL_BROKER,
  LABEL_ORIGIN,
  LABEL_SINK_CREDENTIAL,
  ANNOTATION_STATE,
} from './subscription-mapping.js';
