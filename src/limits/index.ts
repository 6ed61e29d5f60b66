export { TokenBucket } from './token-bucket.js';
export { RateLimiter } from './rate-limiter.js';
export type { RateLimiterOptions } from './rate-limiter.js';
export { jsonDepthExceeded } from './json-depth.js';
export { Admission, StreamAdmission } from './admission.js';
