/**
 * At most one log line per key (an error code: a bounded set) per interval, for lines a client can cause
 * once per request. Without it every refusal an unauthenticated client provokes (a store still
 * connecting, an authentication backend down) was a warning of its own, up to 16 KiB of quoted request
 * line each, at whatever rate the client sends. The line that is written says how many it stands for.
 */
export class LogThrottle {
  private readonly keys = new Map<string, { at: number; suppressed: number }>();

  /**
   * `intervalMs` 0 writes every line. `onSuppressed` is told of each line left out
   * (herald_log_lines_suppressed_total).
   */
  constructor(
    private readonly intervalMs: number,
    private readonly onSuppressed: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Whether a line for `key` may be written now: the number of lines left out for `key` since the last
   * one written (0 for the first), or undefined when this one is to be left out.
   */
  take(key: string): number | undefined {
    if (this.intervalMs <= 0) return 0;
    const now = this.now();
    const entry = this.keys.get(key);
    if (entry === undefined) {
      this.keys.set(key, { at: now, suppressed: 0 });
      return 0;
    }
    if (now - entry.at < this.intervalMs) {
      entry.suppressed++;
      this.onSuppressed();
      return undefined;
    }
    const suppressed = entry.suppressed;
    entry.at = now;
    entry.suppressed = 0;
    return suppressed;
  }
}
