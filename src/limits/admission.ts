import { HeraldError } from '../errors/index.js';

/**
 * Counts open things (connections, streams) per key and in total, and refuses one more above a cap.
 * Keys whose count drops to zero are forgotten, so the map never holds more keys than open things.
 */
export class Admission {
  private readonly open = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerKey: number,
  ) {}

  /** `total` or `key` when that cap is reached (nothing is taken), else undefined and one is taken. */
  tryAdmit(key: string): 'total' | 'key' | undefined {
    if (this.total >= this.maxTotal) return 'total';
    const current = this.open.get(key) ?? 0;
    if (current >= this.maxPerKey) return 'key';
    this.open.set(key, current + 1);
    this.total++;
    return undefined;
  }

  release(key: string): void {
    const current = this.open.get(key);
    if (current === undefined) return;
    if (current <= 1) this.open.delete(key);
    else this.open.set(key, current - 1);
    this.total--;
  }

  get size(): number {
    return this.total;
  }

  get keys(): number {
    return this.open.size;
  }
}

/**
 * Admits Server-Sent Event streams: at most `maxTotal` open, `maxPerClient` per client key. Above the
 * per-client cap a 429, above the total a 503, both with Retry-After.
 */
export class StreamAdmission {
  private readonly admission: Admission;

  constructor(
    maxTotal: number,
    maxPerClient: number,
    private readonly onRefused: (limit: 'max-streams' | 'max-streams-per-client') => void = () => undefined,
  ) {
    this.admission = new Admission(maxTotal, maxPerClient);
  }

  /** Takes a slot for `client` or throws; the returned function gives it back (once). */
  admit(client: string): () => void {
    const refused = this.admission.tryAdmit(client);
    if (refused === 'key') {
      this.onRefused('max-streams-per-client');
      throw new HeraldError(
        'HERALD_TOO_MANY_STREAMS',
        'this client has as many event streams open as --max-streams-per-client allows; close one first',
        { retryAfter: 5 },
      );
    }
    if (refused === 'total') {
      this.onRefused('max-streams');
      throw new HeraldError(
        'HERALD_STREAM_CAPACITY',
        'the broker serves as many event streams as --max-streams allows',
        {
          retryAfter: 5,
        },
      );
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.admission.release(client);
    };
  }
}
