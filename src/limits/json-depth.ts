/**
 * The byte offset at which JSON `text` nests arrays and objects deeper than `maxDepth`, or -1 when it
 * does not. A single pass over the raw bytes, without recursion and before anything is parsed, so a
 * body nested thousands of levels deep costs one scan instead of a stack overflow later (JSON.parse
 * accepts it, but serialising or walking the value again may not). Invalid JSON is left to the parser.
 */
export function jsonDepthExceeded(text: Uint8Array, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}
