export {
  sendJson,
  sendJsonText,
  sendProblem,
  readBody,
  readJsonObject,
  readOptionalJsonObject,
} from './respond.js';
export { Router } from './router.js';
export type { RouteHandler, RouteParams } from './router.js';
export {
  setIdentity,
  identityOf,
  clientKeyOf,
  setOwnerScope,
  ownerScopeOf,
  ownerOf,
} from './request-context.js';
export type { RequestIdentity } from './request-context.js';
export { ServerGuards } from './server-guards.js';
export type { ServerGuardOptions } from './server-guards.js';
