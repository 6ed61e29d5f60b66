export type { AttributeValue, Attributes, AttributesJson, CloudEvent } from './types.js';
export {
  DataKind,
  REQUIRED_ATTRIBUTES,
  SUPPORTED_SPECVERSION,
  attributesJsonLength,
  attributesJsonOf,
  copyAttributesJson,
  storedAttributesJson,
} from './types.js';
export { encodeHeaderValue, decodeHeaderValue } from './percent-encoding.js';
export {
  validateAttributes,
  isValidAttributeName,
  isValidString,
  isUriReference,
  isAbsoluteUri,
  isTimestamp,
  isMediaType,
  isBase64,
  isJsonMediaType,
} from './validate.js';
export {
  parseJsonBody,
  eventFromJson,
  eventToJson,
  dataMemberJson,
  spliceData,
  jsonTooDeep,
} from './json-format.js';
export { eventToJsonBytes, batchToJsonBytes } from './json-bytes.js';
export type { ContentMode } from './http-binding.js';
export {
  detectMode,
  parseStructured,
  parseBatch,
  parseBinary,
  hasBinaryHeaders,
  toBinaryHeaders,
  binaryModeCarries,
} from './http-binding.js';
export { closingQuote, jsonDepthExceeded } from './json-scan.js';
