/**
 * The JSON object a distributed store's record carries in a header or its body (an event's attributes,
 * its trace context, a dead letter's error), or undefined when the text is not JSON or not an object.
 * Records written by hand or by another tool are skipped that way, never thrown: a throw failed every
 * read of the page holding one, and a null read as attributes failed every reader that looked at it.
 */
export function parseJsonObject<T extends object>(text: string): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as T) : undefined;
}
