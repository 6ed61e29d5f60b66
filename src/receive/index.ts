// SPDX-License-Identifier: Apache-2.0
/**
 * `herald/receive`: decode Herald's deliveries (binary, structured and batch mode, percent-encoded
 * `ce-*` headers, `Herald-*` delivery headers) from node:http, Express, Fastify, Hono or any Web
 * `Request`, and answer the CloudEvents webhook validation handshake.
 */
export { parseDelivery, MalformedDeliveryError } from './parse.js';
export type { Delivery, DeliverySource, RawDelivery, ParseOptions } from './parse.js';
export { answerHandshake, receive, createNodeHandler, createFetchHandler } from './handlers.js';
export type { DeliveryListener, ReceiverOptions, ReceiverAnswer } from './handlers.js';
