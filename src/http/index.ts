export {
  clientClosed,
  sendJson,
  sendJsonText,
  sendProblem,
  readBody,
  readJsonObject,
  readOptionalJsonObject,
} from './respond.js';
export type { BodyLimitFlag } from './respond.js';
export { bodyUninvited, holdBodyInvitation, inviteBody } from './body-invitation.js';
export { queryParamAnyCase } from './query.js';
export { Router } from './router.js';
export type { RouteHandler, RouteParams } from './router.js';
export {
  setIdentity,
  identityOf,
  clientKeyOf,
  setOwnerScope,
  ownerScopeOf,
  ownerOf,
  setControlBodyLimits,
} from './request-context.js';
export type { ControlBodyLimits, RequestIdentity } from './request-context.js';
export { ServerGuards } from './server-guards.js';
export type { ServerGuardOptions } from './server-guards.js';
export { drained, ReaderDeadline, writeChunk } from './reader-deadline.js';
