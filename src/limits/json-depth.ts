import { closingQuote } from '../cloudevents/index.js';

/**
 * The byte offset at which JSON `text` nests arrays and objects deeper than `maxDepth`, or -1 when it
 * does not. A single pass over the raw bytes, without recursion and before anything is parsed, so a
 * body nested thousands of levels deep costs one scan instead of a stack overflow later (JSON.parse
 * accepts it, but serialising or walking the value again may not). Invalid JSON is left to the parser.
 * String contents are skipped natively (`closingQuote`).
 */
export function jsonDepthExceeded(text: Uint8Array, maxDepth: number): number {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text[i];
    if (c === 0x22) {
      i = closingQuote(text, i + 1);
      if (i < 0) return -1; // an unterminated string: nothing after it nests
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}
