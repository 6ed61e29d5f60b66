import { describe, expect, it } from 'vitest';
import { captureTrace, isValidTraceparent } from './trace-context.js';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('isValidTraceparent: what W3C Trace Context lets a participant continue', () => {
  it.each([
    [VALID, true],
    [' 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', true],
    // A later version may append fields; version 00 may not.
    ['01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra', true],
    [`${VALID}-extra`, false],
    ['ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', false],
    ['00-00000000000000000000000000000000-b7ad6b7169203331-01', false],
    ['00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', false],
    ['00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01', false],
    ['garbage', false],
  ])('%s → %s', (value, expected) => {
    expect(isValidTraceparent(value)).toBe(expected);
  });
});

describe('captureTrace', () => {
  it('keeps the headers in order while they fit, leaving out one that does not', () => {
    const captured = captureTrace(
      { traceparent: VALID, tracestate: `a=${'x'.repeat(200)}`, b3: '1-2-1', 'x-request-id': 'r1' },
      128,
    );
    expect(captured).toEqual({
      trace: { traceparent: VALID, b3: '1-2-1', 'x-request-id': 'r1' },
      overLimit: true,
    });
  });

  it('drops an invalid traceparent and its tracestate, keeping the other headers', () => {
    expect(captureTrace({ traceparent: 'garbage', tracestate: 'a=b', 'x-request-id': 'r1' }, 2048)).toEqual({
      trace: { 'x-request-id': 'r1' },
      overLimit: false,
    });
    expect(captureTrace({ tracestate: 'a=b' }, 2048)).toEqual({ trace: undefined, overLimit: false });
  });
});
