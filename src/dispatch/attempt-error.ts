import type { ErrorCode } from '../errors/index.js';
import { classifyStatus } from './retry.js';
import type { SinkResponse } from './sink-client.js';

/** What a failed attempt records in status and dead letters. */
export interface AttemptError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly status?: number;
}

/**
 * A failed attempt as a coded error. The message holds the status code or the transport's error,
 * never the sink's response body: whoever can read a subscription's status must not be able to
 * read what an internal service answered (docs/security.md).
 */
export function attemptError(response: SinkResponse): AttemptError {
  if (response.status === 0) {
    switch (response.failure) {
      case 'timeout':
        return { code: 'HERALD_SINK_TIMEOUT', message: response.detail };
      case 'forbidden':
        return { code: 'HERALD_SINK_FORBIDDEN', message: response.detail };
      default:
        return { code: 'HERALD_SINK_UNREACHABLE', message: response.detail };
    }
  }
  const status = response.status;
  if (status >= 300 && status < 400) {
    return {
      code: 'HERALD_SINK_REDIRECTED',
      message: `sink answered ${status}; redirects are never followed`,
      status,
    };
  }
  const code = classifyStatus(status) === 'reject' ? 'HERALD_SINK_REJECTED' : 'HERALD_SINK_UNAVAILABLE';
  return { code, message: `sink answered ${status}`, status };
}
