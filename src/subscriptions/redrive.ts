// Which dead letters a redrive takes: found by id, a page at a time, without holding their events.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { HeraldError } from '../errors/index.js';
import type { EventStore } from '../store/index.js';
import type { RedriveSelection } from './delivery-port.js';

/** Dead letters a redrive looks over at a time, each with its event: the most it holds at once. */
const REDRIVE_PAGE = 100;
/** Unknown ids a refused redrive names (the rest are counted). */
const UNKNOWN_NAMED = 20;

/**
 * The dead letters of subscription `id` a redrive of `ids` (undefined: all) takes, and how many. Looked
 * over a page at a time and handed on by id (all: up to the last one now): listed at once, every letter
 * was in memory with its event until the last was delivered. Ids are found in a set: compared with every
 * letter (ids × letters), a long list held the event loop for seconds to minutes. Throws
 * `HERALD_NOT_FOUND` naming ids with no letter.
 */
export async function selectDeadLetters(
  store: Pick<EventStore, 'listDeadLetters'>,
  id: string,
  ids: readonly string[] | undefined,
): Promise<{ selection: RedriveSelection; taken: number }> {
  const wanted = ids === undefined ? undefined : new Set(ids);
  const found: string[] = [];
  let taken = 0;
  let through: string | undefined;
  for (let after: string | undefined; ;) {
    const page = await store.listDeadLetters(id, REDRIVE_PAGE, after);
    for (const letter of page) {
      if (wanted === undefined) taken++;
      else if (wanted.has(letter.id)) found.push(letter.id);
    }
    const last = page[page.length - 1];
    if (last === undefined) break;
    through = after = last.id;
    if (page.length < REDRIVE_PAGE || (wanted !== undefined && found.length === wanted.size)) break;
    // The store may read a page synchronously (the embedded one does): requests go on between pages.
    await yieldToEventLoop();
  }
  if (wanted !== undefined && found.length < wanted.size) {
    const known = new Set(found);
    const unknown = [...wanted].filter((i) => !known.has(i));
    // Named up to a few: a body of a million unknown ids made a detail of megabytes.
    const named = unknown.slice(0, UNKNOWN_NAMED).map((u) => `'${u}'`);
    const more = unknown.length > UNKNOWN_NAMED ? ` and ${unknown.length - UNKNOWN_NAMED} more` : '';
    const detail = `no dead letter with id ${named.join(', ')}${more}`;
    throw new HeraldError('HERALD_NOT_FOUND', detail, { pointer: '/ids' });
  }
  return wanted === undefined
    ? { selection: { through }, taken }
    : { selection: { ids: found }, taken: found.length };
}
