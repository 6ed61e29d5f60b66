import { authorizedFetch, ApiProblem } from './api';

export interface TailEvent {
  readonly sequence: number;
  readonly event: Record<string, unknown>;
}

export interface TailOptions {
  readonly filter: string;
  /** First sequence to send; absent = only events appended from now on. */
  readonly from?: number;
  readonly signal: AbortSignal;
  onOpen(): void;
  /**
   * The sequence the stream has reached: the one before where it started (sent before any event), then
   * each event's. Resuming after it misses nothing, even when no event arrived yet.
   */
  onPosition(sequence: number): void;
  onEvent(event: TailEvent): void;
}

/**
 * Follows `GET /events/stream` with `fetch` rather than `EventSource`, which cannot send the bearer
 * token. Resolves when the stream ends or is aborted; rejects with an `ApiProblem` when the broker
 * refuses it (an invalid filter is a 400 naming the line and column).
 */
export async function tail(options: TailOptions): Promise<void> {
  const query = new URLSearchParams();
  if (options.filter.trim() !== '') query.set('filter', options.filter);
  if (options.from !== undefined) query.set('from', String(options.from));
  const response = await authorizedFetch(`/events/stream?${query.toString()}`, {
    headers: { accept: 'text/event-stream' },
    signal: options.signal,
  });
  if (!response.ok || response.body === null) {
    const text = await response.text();
    let problem: ApiProblem;
    try {
      problem = new ApiProblem(JSON.parse(text) as ApiProblem['problem']);
    } catch {
      problem = new ApiProblem({
        title: `HTTP ${response.status}`,
        status: response.status,
        code: `HTTP_${response.status}`,
        detail: text.slice(0, 500),
      });
    }
    throw problem;
  }
  options.onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = parseMessage(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (message.sequence !== undefined) options.onPosition(message.sequence);
        if (message.event !== undefined && message.sequence !== undefined) {
          options.onEvent({ sequence: message.sequence, event: message.event });
        }
      }
    }
  } catch (error) {
    if (options.signal.aborted) return;
    throw error;
  } finally {
    reader.releaseLock();
  }
}

/**
 * One Server-Sent Events message (`id:` and `data:` lines); comments and heartbeats give nothing. An
 * `id:` without data is the stream's starting position (SSE's last event id), with no event.
 */
function parseMessage(block: string): { sequence?: number; event?: Record<string, unknown> } {
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  const sequence = id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
  if (data.length === 0) return sequence === undefined ? {} : { sequence };
  const event = JSON.parse(data.join('\n')) as Record<string, unknown>;
  return sequence === undefined ? { event } : { sequence, event };
}

/** Where a CESQL parse error points, from the broker's `… at line L, column C` detail. */
export function filterErrorPosition(detail: string): { line: number; column: number } | undefined {
  const match = /at line (\d+), column (\d+)/.exec(detail);
  return match === null ? undefined : { line: Number(match[1]), column: Number(match[2]) };
}
