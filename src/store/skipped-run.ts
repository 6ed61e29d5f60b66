/**
 * Sequences a read found to hold no event of Herald's, up to what was then the end of the log (messages
 * or records written onto the event subject or topic by hand or by another tool, which reads skip). The
 * log's last sequence counts them, so a reader waiting for an append after the last event it read would
 * be answered at once, read nothing again, and so on without pause: it waits past them instead. One run,
 * grown as more such sequences are read past at the end; a run elsewhere replaces it.
 */
export class SkippedRun {
  private run: { from: number; through: number } | undefined;

  /** `from` to `through` (inclusive) hold no event of Herald's. */
  record(from: number, through: number): void {
    if (through < from) return;
    const known = this.run;
    this.run =
      known !== undefined && from <= known.through + 1 && through >= known.from - 1
        ? { from: Math.min(from, known.from), through: Math.max(through, known.through) }
        : { from, through };
  }

  /** Where a wait for an append after `after` starts: past the run when only skipped sequences follow it. */
  waitAfter(after: number): number {
    const run = this.run;
    return run !== undefined && after >= run.from - 1 && after < run.through ? run.through : after;
  }

  /** A log that now ends before the run was made again: the run says nothing of it. */
  forgetBeyond(last: number): void {
    if (this.run !== undefined && last < this.run.through) this.run = undefined;
  }
}
