/** A W3C context as a publisher's own span would send it: a fresh trace id and span id, sampled. */
export function publisherContext(): { traceId: string; spanId: string; traceparent: string } {
  const hex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The trace id and parent span id of a sampled W3C `traceparent`; throws on anything else. */
export function parseTraceparent(value: string | undefined): { traceId: string; parentId: string } {
  const match = /^00-([\da-f]{32})-([\da-f]{16})-01$/.exec(value ?? '');
  if (match === null) throw new Error(`not a sampled W3C traceparent: ${value}`);
  return { traceId: match[1]!, parentId: match[2]! };
}
