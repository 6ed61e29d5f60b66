/**
 * The key a dead letter is stored under, so that storing it again (a redelivery after a crash, a second
 * replica, an upgrade) keeps one letter. One spelling for every writer: the dispatcher keys the letters it
 * adds, and the embedded store's migration keys the letters older builds stored without one (a twin of
 * this format in SQL would let the two drift, and an upgraded letter would then be stored twice).
 */

/** A live delivery's letter: the subscription's incarnation, the seek it delivers after, the event's sequence. */
export function liveLetterKey(incarnation: string | undefined, seekEpoch: number, sequence: number): string {
  return `live:${incarnation ?? ''}:${seekEpoch}:${sequence}`;
}

/** A redriven letter's letter, should it be refused again: the letter it was redriven from. */
export function redrivenLetterKey(letterId: string): string {
  return `redriven:${letterId}`;
}
