// SPDX-License-Identifier: Apache-2.0
/**
 * The `herald` package's root export: the client and the receiver. Programs may also import only one of
 * them, `herald/client` or `herald/receive`; the broker itself is run with the `herald` command.
 */
export * from './client/index.js';
export * from './receive/index.js';
