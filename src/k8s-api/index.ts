export * from './schemas.js';
export { customResourceDefinitions, toStructural } from './crds.js';
