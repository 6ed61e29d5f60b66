/**
 * The byte offset at which JSON `text` nests arrays and objects deeper than `maxDepth`, or -1 when it
 * does not. A single pass over the raw bytes, without recursion and before anything is parsed, so a
 * body nested thousands of levels deep costs one scan instead of a stack overflow later (JSON.parse
 * accepts it, but serialising or walking the value again may not). Invalid JSON is left to the parser.
 *
 * @remarks String contents are skipped with the native `indexOf` to the next `"` (escaped when an odd
 * run of backslashes precedes it), not byte by byte: in events most bytes are inside strings, and the
 * byte loop was about a microsecond per kilobyte on the ingress path.
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

/** The index of the `"` that closes a string whose contents start at `from`, or -1 when none does. */
function closingQuote(text: Uint8Array, from: number): number {
  let at = text.indexOf(0x22, from);
  while (at >= 0) {
    let backslashes = 0;
    while (at - backslashes - 1 >= from && text[at - backslashes - 1] === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = text.indexOf(0x22, at + 1);
  }
  return -1;
}
