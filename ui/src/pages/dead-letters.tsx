import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, asProblem } from '../api';
import type { DeadLetter, Problem } from '../api';
import { JsonBlock, ProblemMessage, usePolling } from '../components';
import { formatTime } from '../format';
import { linkTo } from '../router';

const PAGE = 500;
/** Ids per redrive request, so that progress shows while a large redrive is handed over. */
const CHUNK = 25;

interface Progress {
  readonly total: number;
  readonly handedOver: number;
  /** Of the ids handed over, how many have left the dead-letter list (delivered, or failed again). */
  readonly left: number;
  readonly done: boolean;
}

function letterSummary(letter: DeadLetter): string {
  const { event } = letter;
  return `${String(event['type'] ?? '?')} from ${String(event['source'] ?? '?')} (id ${String(event['id'] ?? '?')})`;
}

export function DeadLettersPage({ id }: { id: string }) {
  const { data, problem, refresh } = usePolling(() => api.deadLetters(id, PAGE), 2_000, [id]);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [open, setOpen] = useState<string>();
  const [progress, setProgress] = useState<Progress>();
  const [actionProblem, setActionProblem] = useState<Problem>();
  const letters = data ?? [];
  const running = progress !== undefined && !progress.done;

  const toggle = (letterId: string) => {
    const next = new Set(selected);
    if (next.has(letterId)) next.delete(letterId);
    else next.add(letterId);
    setSelected(next);
  };

  /** Hands the ids over in chunks, then watches them leave the list. */
  const redrive = async (given: readonly string[], all: boolean) => {
    setActionProblem(undefined);
    let handedOver = 0;
    let ids = given;
    setProgress({ total: ids.length, handedOver, left: 0, done: false });
    try {
      if (all) {
        // Every dead letter, not only the page shown (nor only the API's first page), so that progress
        // counts them all.
        ids = (await api.allDeadLetters(id)).map((letter) => letter.id);
        setProgress({ total: ids.length, handedOver, left: 0, done: false });
        handedOver = await api.redrive(id);
        setProgress({ total: ids.length, handedOver, left: 0, done: false });
      } else {
        for (let i = 0; i < ids.length; i += CHUNK) {
          handedOver += await api.redrive(id, ids.slice(i, i + CHUNK));
          setProgress({ total: ids.length, handedOver, left: 0, done: false });
        }
      }
      const wanted = new Set(ids);
      const total = ids.length;
      for (let round = 0; round < 60; round++) {
        const remaining = (await api.allDeadLetters(id)).filter((l) => wanted.has(l.id)).length;
        const left = total - Math.min(total, remaining);
        setProgress({ total, handedOver: total, left, done: remaining === 0 });
        if (remaining === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } catch (error) {
      setActionProblem(asProblem(error));
    } finally {
      setProgress((p) => (p === undefined ? p : { ...p, done: true }));
      setSelected(new Set());
      refresh();
    }
  };

  const allSelected = letters.length > 0 && letters.every((l) => selected.has(l.id));
  return (
    <>
      <p class="breadcrumb">
        <a {...linkTo('subscriptions')}>Subscriptions</a> /{' '}
        <a {...linkTo(`subscriptions/${encodeURIComponent(id)}`)}>{id}</a> /
      </p>
      <h1 tabIndex={-1}>Dead letters</h1>
      <ProblemMessage problem={problem} />
      <div class="actions" role="group" aria-label="Redrive">
        <button
          type="button"
          class="primary"
          disabled={running || selected.size === 0}
          onClick={() => void redrive([...selected], false)}
        >
          Redrive selected ({selected.size})
        </button>
        <button
          type="button"
          disabled={running || letters.length === 0}
          onClick={() =>
            void redrive(
              letters.map((l) => l.id),
              true,
            )
          }
        >
          Redrive all
        </button>
      </div>
      <div aria-live="polite" class="progress-line">
        {progress !== undefined && (
          <>
            <label for="redrive-progress">
              {progress.done
                ? `Redrive finished: ${progress.left} of ${progress.total} left the dead letters.` +
                  (progress.left < progress.total
                    ? ` ${progress.total - progress.left} are still being retried.`
                    : '')
                : `Redriving: ${progress.handedOver} of ${progress.total} handed over, ${progress.left} left the dead letters…`}
            </label>
            <progress id="redrive-progress" max={Math.max(1, progress.total)} value={progress.left} />
          </>
        )}
      </div>
      <ProblemMessage problem={actionProblem} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Dead letters of subscription {id}</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select all dead letters"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? new Set() : new Set(letters.map((l) => l.id)))}
                />
              </th>
              <th scope="col" class="numeric">
                Sequence
              </th>
              <th scope="col">Event</th>
              <th scope="col">Error</th>
              <th scope="col" class="numeric">
                Attempts
              </th>
              <th scope="col">Dead-lettered</th>
              <th scope="col">
                <span class="visually-hidden">Inspect</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {letters.map((letter) => (
              <Fragment key={letter.id}>
                <tr data-dead-letter={letter.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select dead letter ${letter.sequence}`}
                      checked={selected.has(letter.id)}
                      onChange={() => toggle(letter.id)}
                    />
                  </td>
                  <td class="numeric">{letter.sequence}</td>
                  <td class="mono">{letterSummary(letter)}</td>
                  <td>
                    <code>{letter.error.code}</code>
                    {letter.error.status !== undefined && ` (HTTP ${letter.error.status})`}
                  </td>
                  <td class="numeric">{letter.attempts}</td>
                  <td>{formatTime(letter.deadLetteredAt)}</td>
                  <td>
                    <button
                      type="button"
                      aria-expanded={open === letter.id}
                      aria-controls={`letter-${letter.id}`}
                      onClick={() => setOpen(open === letter.id ? undefined : letter.id)}
                    >
                      {open === letter.id ? 'Hide' : 'Inspect'}
                      <span class="visually-hidden"> dead letter {letter.sequence}</span>
                    </button>
                  </td>
                </tr>
                {open === letter.id && (
                  <tr id={`letter-${letter.id}`}>
                    <td colSpan={7}>
                      <p>
                        <strong>Error:</strong> {letter.error.message}
                      </p>
                      <JsonBlock value={letter.event} label={`Event of dead letter ${letter.sequence}`} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
            {data !== undefined && letters.length === 0 && (
              <tr>
                <td colSpan={7}>No dead letters.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {letters.length === PAGE && <p class="muted">Showing the first {PAGE} dead letters.</p>}
    </>
  );
}
