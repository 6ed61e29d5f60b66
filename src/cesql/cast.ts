// SPDX-License-Identifier: Apache-2.0
import type { CesqlValue } from './types.js';

/** The CESQL primitive types (CESQL v1 §3.1). */
export type CesqlType = 'Boolean' | 'Integer' | 'String';

export function typeOf(value: CesqlValue): CesqlType {
  return typeof value === 'boolean' ? 'Boolean' : typeof value === 'number' ? 'Integer' : 'String';
}

/** The zero value of each type (CESQL v1 §3.1), returned alongside an error. */
export const zeroValues = { Boolean: false, Integer: 0, String: '' } as const;

/**
 * Any value → Integer per CESQL v1 §3.7; NaN when the cast fails (a string that is not a base-10
 * 32-bit integer with an optional sign), so reporting failure allocates nothing.
 */
export function castToInteger(value: CesqlValue): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return parseInt32(value);
}

/** Any value → Boolean per CESQL v1 §3.7; `undefined` when the cast fails. */
export function castToBoolean(value: CesqlValue): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  return parseBoolean(value);
}

function parseInt32(text: string): number {
  const n = text.length;
  let i = 0;
  let negative = false;
  const first = text.charCodeAt(0);
  if (first === 0x2b || first === 0x2d) {
    negative = first === 0x2d;
    i = 1;
  }
  if (i >= n) return NaN;
  while (i < n - 1 && text.charCodeAt(i) === 0x30) i++;
  if (n - i > 10) return NaN;
  let value = 0;
  for (; i < n; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return NaN;
    value = value * 10 + d;
  }
  if (negative) value = -value;
  return value >= -2147483648 && value <= 2147483647 ? value | 0 : NaN;
}

/** `true` or `false` ignoring case. */
function parseBoolean(text: string): boolean | undefined {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text.length !== 4 && text.length !== 5) return undefined;
  const lower = text.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

/** Integer or Boolean → String; both casts always succeed (CESQL v1 §3.7). */
export function toStringValue(value: CesqlValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** How a value appears in an error message: strings quoted and cut short. */
export function describeValue(value: CesqlValue): string {
  if (typeof value !== 'string') return String(value);
  const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
  return JSON.stringify(shown);
}

export function castErrorMessage(value: CesqlValue, target: CesqlType): string {
  return `cannot cast ${typeOf(value)} ${describeValue(value)} to ${target}`;
}
