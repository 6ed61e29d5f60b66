import { useEffect, useRef, useState } from 'preact/hooks';
import { asProblem } from '../api';
import type { Problem } from '../api';
import { JsonBlock, ProblemMessage } from '../components';
import { filterErrorPosition, tail } from '../stream';
import type { TailEvent } from '../stream';

/** Events kept on the page; older ones scroll away. */
const KEEP = 300;

type Connection = 'connecting' | 'live' | 'paused' | 'refused' | 'reconnecting';

/** The filter as typed, with a caret under the column the broker blamed. */
function FilterError({ expression, problem }: { expression: string; problem: Problem }) {
  const position = filterErrorPosition(problem.detail);
  if (position === undefined) return <ProblemMessage problem={problem} id="filter-error" />;
  const line = expression.split(/\r\n|\r|\n/)[position.line - 1] ?? '';
  const before = [...line].slice(0, position.column - 1).join('');
  return (
    <div class="problem" role="alert" id="filter-error">
      <strong>{problem.title}</strong>: {problem.detail}
      <pre class="caret" aria-hidden="true">
        {line}
        {'\n'}
        {' '.repeat([...before].length)}^
      </pre>
      <code class="problem-code">{problem.code}</code>
    </div>
  );
}

export function TailPage() {
  const [draft, setDraft] = useState('');
  const [filter, setFilter] = useState('');
  const [paused, setPaused] = useState(false);
  /** Bumped by "Apply filter", so that applying the same filter again reconnects. */
  const [generation, setGeneration] = useState(0);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [problem, setProblem] = useState<Problem>();
  const [events, setEvents] = useState<TailEvent[]>([]);
  const [open, setOpen] = useState<ReadonlySet<number>>(new Set());
  /** The last sequence the stream reached: resuming continues after it, so a pause loses nothing. */
  const last = useRef<number | undefined>(undefined);

  useEffect(() => {
    if (paused) {
      setConnection('paused');
      return;
    }
    const controller = new AbortController();
    let retry: number | undefined;
    const connect = () => {
      setConnection(last.current === undefined ? 'connecting' : 'reconnecting');
      tail({
        filter,
        ...(last.current === undefined ? {} : { from: last.current + 1 }),
        signal: controller.signal,
        onOpen: () => {
          setProblem(undefined);
          setConnection('live');
        },
        // Kept from the stream's first line on: paused or cut off before any event, it resumes where it
        // started, not at "now" (which would skip what was appended meanwhile).
        onPosition: (sequence) => {
          last.current = sequence;
        },
        onEvent: (event) => {
          setEvents((shown) => [event, ...shown].slice(0, KEEP));
        },
      })
        .then(() => {
          // The broker ended the stream (restart, shutdown): follow again shortly.
          if (!controller.signal.aborted) retry = window.setTimeout(connect, 1_000);
        })
        .catch((error: unknown) => {
          if (controller.signal.aborted) return;
          const refused = asProblem(error);
          setProblem(refused);
          if (refused.status >= 400 && refused.status < 500) setConnection('refused');
          else retry = window.setTimeout(connect, 2_000);
        });
    };
    connect();
    return () => {
      controller.abort();
      window.clearTimeout(retry);
    };
  }, [filter, paused, generation]);

  const invalidFilter = problem?.code === 'HERALD_INVALID_FILTER';
  const toggle = (sequence: number) => {
    const next = new Set(open);
    if (next.has(sequence)) next.delete(sequence);
    else next.add(sequence);
    setOpen(next);
  };

  return (
    <>
      <h1 tabIndex={-1}>Live tail</h1>
      <form
        class="toolbar"
        aria-label="Tail filter"
        onSubmit={(event) => {
          event.preventDefault();
          // A new filter starts from now: earlier events were judged by the old one.
          last.current = undefined;
          setEvents([]);
          setFilter(draft);
          setGeneration((g) => g + 1);
        }}
      >
        <label for="tail-filter">CESQL filter</label>
        <input
          id="tail-filter"
          class="mono wide"
          placeholder="type LIKE 'com.example.%' AND subject = 'orders'"
          value={draft}
          aria-invalid={invalidFilter ? 'true' : undefined}
          aria-describedby={invalidFilter ? 'filter-error' : undefined}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Apply filter
        </button>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" onClick={() => setEvents([])}>
          Clear
        </button>
      </form>
      <p class="muted" role="status">
        <span class={`dot dot-${connection}`} aria-hidden="true" /> {connectionText(connection)}
        {filter !== '' && (
          <>
            {' '}
            · filter <code>{filter}</code>
          </>
        )}{' '}
        · {events.length} event{events.length === 1 ? '' : 's'} shown
      </p>
      {problem !== undefined &&
        (invalidFilter ? (
          <FilterError expression={filter} problem={problem} />
        ) : (
          <ProblemMessage problem={problem} />
        ))}
      <ol class="events" aria-label="Events, newest first">
        {events.map((item) => {
          const expanded = open.has(item.sequence);
          const { event } = item;
          return (
            <li key={item.sequence} data-sequence={item.sequence}>
              <button
                type="button"
                class="event-summary"
                aria-expanded={expanded}
                aria-controls={`event-${item.sequence}`}
                onClick={() => toggle(item.sequence)}
              >
                <span class="seq">#{item.sequence}</span>
                <span class="mono">{String(event['type'])}</span>
                <span class="muted">{String(event['source'])}</span>
                <span class="muted">id {String(event['id'])}</span>
                {typeof event['time'] === 'string' && <span class="muted">{event['time']}</span>}
              </button>
              {expanded && (
                <div id={`event-${item.sequence}`}>
                  <JsonBlock value={event} label={`Event ${item.sequence}`} />
                </div>
              )}
            </li>
          );
        })}
      </ol>
    </>
  );
}

function connectionText(connection: Connection): string {
  switch (connection) {
    case 'connecting':
      return 'Connecting…';
    case 'live':
      return 'Live: new events appear at the top.';
    case 'paused':
      return 'Paused: resuming continues after the last event shown.';
    case 'refused':
      return 'The broker refused the stream.';
    case 'reconnecting':
      return 'Reconnecting…';
  }
}
