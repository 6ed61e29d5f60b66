import { useMemo, useRef, useState } from 'preact/hooks';
import { api, asProblem } from '../api';
import type { Problem, Stats, Subscription } from '../api';
import { ProblemMessage, StateBadge, usePolling } from '../components';
import { describeFilter, formatRate } from '../format';
import { linkTo, navigate } from '../router';

/**
 * Events per second delivered per subscription, from the last two `/stats` answers. Without `/stats`
 * (a principal without `admin` may not read it) there are no rates, and the column shows a dash.
 */
function useDeliveryRates(): ReadonlyMap<string, number> {
  const previous = useRef<Stats | undefined>(undefined);
  const rates = useRef<Map<string, number>>(new Map());
  usePolling(async () => {
    const stats = await api.stats();
    const before = previous.current;
    if (before !== undefined) {
      const seconds = (Date.parse(stats.time) - Date.parse(before.time)) / 1000;
      const counts = new Map(before.subscriptions.map((s) => [s.id, s.delivered]));
      const next = new Map<string, number>();
      for (const { id, delivered } of stats.subscriptions) {
        const earlier = counts.get(id);
        if (earlier !== undefined && seconds > 0) next.set(id, Math.max(0, delivered - earlier) / seconds);
      }
      rates.current = next;
    }
    previous.current = stats;
    return stats.time;
  }, 2_000);
  return rates.current;
}

type Column = 'id' | 'state' | 'filter' | 'sink' | 'cursor' | 'lag' | 'rate' | 'error';

const COLUMNS: ReadonlyArray<{ key: Column; label: string; numeric?: boolean }> = [
  { key: 'id', label: 'Subscription' },
  { key: 'state', label: 'State' },
  { key: 'filter', label: 'Filter' },
  { key: 'sink', label: 'Sink' },
  { key: 'cursor', label: 'Cursor', numeric: true },
  { key: 'lag', label: 'Lag', numeric: true },
  { key: 'rate', label: 'Delivered/s', numeric: true },
  { key: 'error', label: 'Last error' },
];

interface Row {
  readonly subscription: Subscription;
  readonly filter: string;
  readonly rate: number | undefined;
  readonly error: string;
}

function sortValue(row: Row, column: Column): string | number {
  const { subscription: s } = row;
  switch (column) {
    case 'id':
      return s.id;
    case 'state':
      return s.status.state;
    case 'filter':
      return row.filter;
    case 'sink':
      return s.sink;
    case 'cursor':
      return s.status.cursor;
    case 'lag':
      return s.status.lag;
    case 'rate':
      return row.rate ?? -1;
    case 'error':
      return row.error;
  }
}

function NewSubscription({ onCreated }: { onCreated: (id: string) => void }) {
  const [sink, setSink] = useState('');
  const [filter, setFilter] = useState('');
  const [startAt, setStartAt] = useState('latest');
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  return (
    <details class="panel">
      <summary>New subscription</summary>
      <form
        class="stack"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          try {
            const created = await api.createSubscription({
              protocol: 'HTTP',
              sink: sink.trim(),
              startAt,
              ...(filter.trim() === '' ? {} : { filters: [{ sql: filter.trim() }] }),
            });
            setProblem(undefined);
            onCreated(created.id);
          } catch (error) {
            setProblem(asProblem(error));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="new-sink">Sink URL</label>
        <input
          id="new-sink"
          type="url"
          required
          placeholder="http://my-service.default.svc/events"
          value={sink}
          aria-invalid={problem?.pointer === '/sink' ? 'true' : undefined}
          onInput={(e) => setSink(e.currentTarget.value)}
        />
        <label for="new-filter">CESQL filter (optional)</label>
        <input
          id="new-filter"
          class="mono"
          placeholder="type LIKE 'com.example.%'"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <label for="new-start">Start at</label>
        <select id="new-start" value={startAt} onChange={(e) => setStartAt(e.currentTarget.value)}>
          <option value="latest">New events only (latest)</option>
          <option value="earliest">The start of the log (earliest)</option>
        </select>
        <ProblemMessage problem={problem} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Create subscription
          </button>
        </div>
      </form>
    </details>
  );
}

export function SubscriptionsPage() {
  const { data, problem } = usePolling(() => api.subscriptions(), 2_000);
  const rates = useDeliveryRates();
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<{ column: Column; descending: boolean }>({
    column: 'id',
    descending: false,
  });

  const rows = useMemo(() => {
    const all: Row[] = (data ?? []).map((subscription) => ({
      subscription,
      filter: describeFilter(subscription),
      rate: rates.get(subscription.id),
      error:
        subscription.status.lastError === null
          ? ''
          : `${subscription.status.lastError.code}: ${subscription.status.lastError.message}`,
    }));
    const needle = query.trim().toLowerCase();
    const shown =
      needle === ''
        ? all
        : all.filter((row) =>
            [row.subscription.id, row.subscription.sink, row.subscription.status.state, row.filter, row.error]
              .join(' ')
              .toLowerCase()
              .includes(needle),
          );
    const direction = sort.descending ? -1 : 1;
    return [...shown].sort((a, b) => {
      const x = sortValue(a, sort.column);
      const y = sortValue(b, sort.column);
      return (x < y ? -1 : x > y ? 1 : 0) * direction;
    });
  }, [data, rates, query, sort]);

  return (
    <>
      <h1 tabIndex={-1}>Subscriptions</h1>
      <NewSubscription onCreated={(id) => navigate(`subscriptions/${encodeURIComponent(id)}`)} />
      <div class="toolbar">
        <label for="search">Search</label>
        <input
          id="search"
          type="search"
          placeholder="id, sink, state, filter, error"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <span class="muted" aria-live="polite">
          {data === undefined ? 'Loading…' : `${rows.length} of ${data.length} shown`}
        </span>
      </div>
      <ProblemMessage problem={problem} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Subscriptions; column headers sort the table</caption>
          <thead>
            <tr>
              {COLUMNS.map((column) => {
                const active = sort.column === column.key;
                return (
                  <th
                    key={column.key}
                    scope="col"
                    class={column.numeric === true ? 'numeric' : undefined}
                    aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}
                  >
                    <button
                      type="button"
                      class="sort"
                      onClick={() =>
                        setSort({ column: column.key, descending: active ? !sort.descending : false })
                      }
                    >
                      {column.label}
                      <span aria-hidden="true">{active ? (sort.descending ? ' ▼' : ' ▲') : ''}</span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {rows.map(({ subscription: s, filter, rate, error }) => (
              <tr key={s.id} data-subscription={s.id}>
                <th scope="row" class="id-cell">
                  <a {...linkTo(`subscriptions/${encodeURIComponent(s.id)}`)} title={s.id}>
                    {s.id}
                  </a>
                </th>
                <td>
                  <StateBadge state={s.status.state} />
                </td>
                <td class="mono">{filter}</td>
                <td class="mono">{s.sink}</td>
                <td class="numeric">{s.status.cursor}</td>
                <td class="numeric">{s.status.lag}</td>
                <td class="numeric">{formatRate(rate)}</td>
                <td class={error === '' ? 'error-cell none' : 'error-cell'}>{error === '' ? '—' : error}</td>
              </tr>
            ))}
            {data !== undefined && rows.length === 0 && (
              <tr>
                <td colSpan={COLUMNS.length}>No subscriptions{query === '' ? '' : ' match the search'}.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}
