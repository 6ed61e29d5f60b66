export { sinkCredentialSchema, authorizationFor, credentialFromSecret } from './credential.js';
export type { SinkCredential } from './credential.js';
export { SensitiveHeaders } from './sensitive.js';
export { SecretBox } from './sealing.js';
export { DefinitionSecrets } from './definition-secrets.js';
