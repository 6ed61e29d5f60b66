import type { ServerResponse } from 'node:http';

/**
 * Destroys a response (a log page or stream, a dead-letter page) whose reader leaves written data
 * untaken for longer than `timeoutMs` (`--log-write-timeout`). Node's request and keep-alive timeouts do not cover a response being
 * written: without this, a client that asks for a page or a stream and never reads holds the page's
 * bytes (and its read slot) for as long as the connection stays open.
 *
 * @remarks The clock runs only while data waits in the response's buffer (a write returned false,
 * or `end` has not finished): it restarts at every `drain`, so a reader that is slow but reading is
 * never cut off, while one that stops reading is.
 */
export class ReaderDeadline {
  private timer: NodeJS.Timeout | undefined;
  private readonly clear = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  };

  constructor(
    private readonly res: ServerResponse,
    private readonly timeoutMs: number,
    private readonly onExpired: () => void,
  ) {
    res.on('drain', this.clear);
    res.once('finish', this.clear);
    res.once('close', this.clear);
  }

  /** Call after each write or `end`: starts the clock when the data was not all taken at once. */
  watch(): void {
    const { res } = this;
    if (this.timer !== undefined || res.destroyed || res.writableFinished) return;
    if (!res.writableNeedDrain && !res.writableEnded) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (res.destroyed || res.writableFinished) return;
      this.onExpired();
      res.destroy();
    }, this.timeoutMs);
    this.timer.unref();
  }
}

/**
 * Writes `text` without waiting: `taken` when the response's buffer can take more, `waiting` when the
 * reader has to take what was written first (see {@link drained}), `closed` when the response is gone.
 */
export function writeChunk(res: ServerResponse, text: string): 'taken' | 'waiting' | 'closed' {
  if (res.destroyed) return 'closed';
  // As bytes: a string the socket cannot take at once is copied into room for its worst-case UTF-8
  // length (three bytes a character) and kept beside it until written, about four times the chunk.
  return res.write(Buffer.from(text, 'utf8')) ? 'taken' : 'waiting';
}

/**
 * Waits until the reader has taken what was written, the response is destroyed (by its deadline or the
 * peer) or `signal` aborts. Returns false when the response can take no more.
 */
export async function drained(
  res: ServerResponse,
  deadline: ReaderDeadline,
  signal: AbortSignal,
): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.writableNeedDrain || signal.aborted) return true;
  deadline.watch();
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
  return !res.destroyed;
}
