export { AccessControl, AuthenticationError, ANONYMOUS } from './access.js';
export type { OwnershipLookup, AccessControlOptions } from './access.js';
export { createAccessControl } from './create.js';
export type { AccessControlDependencies } from './create.js';
export {
  ACTIONS,
  PolicySet,
  compileRules,
  parsePolicyFile,
  policyRuleSchema,
  globToRegExp,
} from './policy.js';
export type { Action, PolicyRule } from './policy.js';
export { ROUTE_TABLE, PUBLIC_PATHS, isPublicPath } from './routes.js';
export type { RouteRule } from './routes.js';
export { JWT_ALGORITHMS } from './jwt.js';
export { parseTokensFile, sha256 } from './static-tokens.js';
export type { TokenReviewer, TokenReviewResult } from './token-review.js';
