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
