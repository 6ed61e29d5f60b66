// The scan lives with the other JSON byte scans (the batch decoder applies the same limit in its own
// pass over the body); the limits capability re-exports it for the bodies it guards.
export { jsonDepthExceeded } from '../cloudevents/index.js';
