// SPDX-License-Identifier: Apache-2.0
/** The client commands of `herald` (architecture §8): they talk to a running broker over HTTP. */
export { registerPublish } from './publish.js';
export { registerTail } from './tail.js';
export { registerSubscriptions } from './subscriptions.js';
export { registerDeadLetters } from './deadletters.js';
export { registerMatch } from './match.js';
export { registerStatus } from './status.js';
export { registerCompletion } from './completion.js';
export { reportError, setCommandOutput, EXIT, UsageError } from './output.js';
