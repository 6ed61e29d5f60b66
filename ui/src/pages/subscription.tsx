import { useState } from 'preact/hooks';
import { api, asProblem } from '../api';
import type { Problem, SeekTarget, Subscription } from '../api';
import { ConfirmDialog, JsonBlock, ProblemMessage, StateBadge, usePolling } from '../components';
import { describeFilter, formatTime } from '../format';
import { linkTo, navigate } from '../router';

type SeekKind = 'earliest' | 'latest' | 'sequence' | 'time';

function SeekForm({ id, run }: { id: string; run: (action: () => Promise<unknown>, done: string) => void }) {
  const [kind, setKind] = useState<SeekKind>('earliest');
  const [value, setValue] = useState('');
  const target = (): SeekTarget => {
    if (kind === 'sequence') return { sequence: Number(value) };
    // datetime-local has no zone: it is the browser's local time, sent as RFC 3339 UTC.
    if (kind === 'time') return { time: new Date(value).toISOString() };
    return kind;
  };
  return (
    <form
      class="inline-form"
      aria-labelledby="seek-title"
      onSubmit={(event) => {
        event.preventDefault();
        run(
          () => api.seek(id, target()),
          `Replaying from ${kind === 'sequence' || kind === 'time' ? value : kind}.`,
        );
      }}
    >
      <h2 id="seek-title">Seek (replay)</h2>
      <label for="seek-kind">Move the cursor to</label>
      <select id="seek-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as SeekKind)}>
        <option value="earliest">the earliest retained event</option>
        <option value="latest">the latest (skip the backlog)</option>
        <option value="sequence">a sequence number</option>
        <option value="time">a time</option>
      </select>
      {kind === 'sequence' && (
        <>
          <label for="seek-sequence">Sequence</label>
          <input
            id="seek-sequence"
            type="number"
            min={0}
            step={1}
            required
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </>
      )}
      {kind === 'time' && (
        <>
          <label for="seek-time">Time (local)</label>
          <input
            id="seek-time"
            type="datetime-local"
            step={1}
            required
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </>
      )}
      <button type="submit">Seek</button>
    </form>
  );
}

function Details({ subscription: s }: { subscription: Subscription }) {
  const { status } = s;
  return (
    <dl class="details">
      <dt>State</dt>
      <dd>
        <StateBadge state={status.state} />
      </dd>
      <dt>Sink</dt>
      <dd class="mono">{s.sink}</dd>
      <dt>Filter</dt>
      <dd class="mono">{describeFilter(s)}</dd>
      <dt>Cursor</dt>
      <dd>{status.cursor}</dd>
      <dt>Lag</dt>
      <dd>{status.lag} events</dd>
      <dt>Last delivered</dt>
      <dd>{formatTime(status.lastDeliveredAt)}</dd>
      <dt>Last error</dt>
      <dd class="error-cell">
        {status.lastError === null
          ? '—'
          : `${status.lastError.code}: ${status.lastError.message} (${formatTime(status.lastError.at)})`}
      </dd>
      <dt>Dead letters</dt>
      <dd>
        <a {...linkTo(`subscriptions/${encodeURIComponent(s.id)}/deadletters`)}>
          {status.deadLettered} dead letter{status.deadLettered === 1 ? '' : 's'}
        </a>
      </dd>
    </dl>
  );
}

export function SubscriptionPage({ id }: { id: string }) {
  const { data, problem, refresh } = usePolling(() => api.subscription(id), 2_000, [id]);
  const [actionProblem, setActionProblem] = useState<Problem>();
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  const run = (action: () => Promise<unknown>, done: string) => {
    setBusy(true);
    setMessage('');
    action()
      .then(() => {
        setActionProblem(undefined);
        setMessage(done);
        refresh();
      })
      .catch((error: unknown) => setActionProblem(asProblem(error)))
      .finally(() => setBusy(false));
  };

  return (
    <>
      <p class="breadcrumb">
        <a {...linkTo('subscriptions')}>Subscriptions</a> /
      </p>
      <h1 tabIndex={-1}>
        Subscription <span class="mono">{id}</span>
      </h1>
      <ProblemMessage problem={problem} />
      {data !== undefined && (
        <>
          <Details subscription={data} />
          {data.status.state === 'invalid' && (
            <p class="muted" id="invalid-note">
              This broker cannot start this subscription within its limits (see Last error): it delivers
              nothing, and cannot be paused or sought. PUT a valid definition through the API to deliver again
              from its cursor, or delete it.
            </p>
          )}
          <div class="actions" role="group" aria-label="Delivery">
            {data.status.state === 'invalid' ? null : data.status.state === 'paused' ? (
              <button
                type="button"
                class="primary"
                disabled={busy}
                onClick={() => run(() => api.resume(id), 'Resumed.')}
              >
                Resume
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => run(() => api.pause(id), 'Paused.')}>
                Pause
              </button>
            )}
            <a class="button" {...linkTo(`subscriptions/${encodeURIComponent(id)}/deadletters`)}>
              Dead letters
            </a>
            <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
              Delete…
            </button>
          </div>
          {data.status.state !== 'invalid' && <SeekForm id={id} run={run} />}
          <p role="status" class="muted">
            {message}
          </p>
          <ProblemMessage problem={actionProblem} />
          <details class="panel">
            <summary>Full resource</summary>
            <JsonBlock value={data} label="The subscription as the API returns it" />
          </details>
        </>
      )}
      <ConfirmDialog
        open={confirming}
        title="Delete this subscription?"
        confirmLabel="Delete subscription"
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          setBusy(true);
          api
            .deleteSubscription(id)
            .then(() => navigate('subscriptions'))
            .catch((error: unknown) => setActionProblem(asProblem(error)))
            .finally(() => setBusy(false));
        }}
      >
        <p>
          Deleting <span class="mono">{id}</span> stops delivery and removes its cursor and dead letters. This
          cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
