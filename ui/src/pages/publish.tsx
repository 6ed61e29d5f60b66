import { useState } from 'preact/hooks';
import { api, asProblem } from '../api';
import type { Problem } from '../api';
import { ProblemMessage } from '../components';

interface Fields {
  type: string;
  source: string;
  id: string;
  subject: string;
  datacontenttype: string;
  data: string;
  extensions: string;
}

const FIELD_LABELS: ReadonlyArray<{ key: keyof Fields; label: string; hint?: string }> = [
  { key: 'type', label: 'Type', hint: 'e.g. com.example.order.created' },
  { key: 'source', label: 'Source', hint: 'a URI reference, e.g. /orders' },
  { key: 'id', label: 'Id', hint: 'unique per source; the broker ignores a repeat within its dedupe window' },
  { key: 'subject', label: 'Subject (optional)' },
  { key: 'datacontenttype', label: 'Data content type' },
];

function newId(): string {
  return crypto.randomUUID();
}

/** Builds the structured-mode event; only the JSON of `data` is checked here, the broker checks the rest. */
function buildEvent(fields: Fields): Record<string, unknown> {
  const event: Record<string, unknown> = {
    specversion: '1.0',
    type: fields.type,
    source: fields.source,
    id: fields.id,
  };
  if (fields.subject !== '') event['subject'] = fields.subject;
  if (fields.datacontenttype !== '') event['datacontenttype'] = fields.datacontenttype;
  if (fields.data.trim() !== '') {
    if (/[/+]json(;|$)/.test(fields.datacontenttype)) {
      try {
        event['data'] = JSON.parse(fields.data) as unknown;
      } catch (error) {
        throw new LocalProblem('data', `data is not valid JSON: ${(error as Error).message}`);
      }
    } else {
      event['data'] = fields.data;
    }
  }
  for (const line of fields.extensions.split('\n')) {
    if (line.trim() === '') continue;
    const equals = line.indexOf('=');
    if (equals <= 0) throw new LocalProblem('extensions', `write each extension as name=value: '${line}'`);
    event[line.slice(0, equals).trim()] = line.slice(equals + 1).trim();
  }
  return event;
}

class LocalProblem extends Error {
  constructor(
    readonly field: keyof Fields,
    message: string,
  ) {
    super(message);
  }
}

export function PublishPage() {
  const [fields, setFields] = useState<Fields>({
    type: '',
    source: '/dashboard',
    id: newId(),
    subject: '',
    datacontenttype: 'application/json',
    data: '{}',
    extensions: '',
  });
  const [problem, setProblem] = useState<Problem>();
  const [blamed, setBlamed] = useState<keyof Fields | undefined>();
  const [accepted, setAccepted] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (key: keyof Fields) => (event: { currentTarget: { value: string } }) =>
    setFields({ ...fields, [key]: event.currentTarget.value });

  /** The field a broker problem names (`attribute`), or the extensions box for any other attribute. */
  const fieldOf = (p: Problem): keyof Fields | undefined => {
    const attribute = p.attribute ?? p.pointer?.replace(/^\//, '');
    if (attribute === undefined || attribute === '') return undefined;
    if (FIELD_LABELS.some((f) => f.key === attribute) || attribute === 'data')
      return attribute as keyof Fields;
    return attribute === 'specversion' ? undefined : 'extensions';
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setAccepted(undefined);
    try {
      await api.publish(buildEvent(fields));
      setProblem(undefined);
      setBlamed(undefined);
      setAccepted(`Accepted: event ${fields.id} is stored.`);
      setFields({ ...fields, id: newId() });
    } catch (error) {
      if (error instanceof LocalProblem) {
        setProblem({ title: 'Not sent', status: 0, code: 'INVALID_FORM', detail: error.message });
        setBlamed(error.field);
      } else {
        const p = asProblem(error);
        setProblem(p);
        setBlamed(fieldOf(p));
      }
    } finally {
      setBusy(false);
    }
  };

  const describedBy = (key: keyof Fields) =>
    [`hint-${key}`, blamed === key ? 'publish-problem' : undefined].filter(Boolean).join(' ') || undefined;

  return (
    <>
      <h1 tabIndex={-1}>Publish an event</h1>
      <p class="muted">Sends one CloudEvent in structured mode to this broker; the broker validates it.</p>
      <form class="stack publish" onSubmit={(event) => void submit(event)} noValidate>
        {FIELD_LABELS.map(({ key, label, hint }) => (
          <div class="field" key={key}>
            <label for={`publish-${key}`}>{label}</label>
            <input
              id={`publish-${key}`}
              name={key}
              class="mono"
              value={fields[key]}
              aria-invalid={blamed === key ? 'true' : undefined}
              aria-describedby={describedBy(key)}
              onInput={set(key)}
            />
            <span class="hint" id={`hint-${key}`}>
              {hint ?? ''}
            </span>
          </div>
        ))}
        <div class="field">
          <label for="publish-data">Data</label>
          <textarea
            id="publish-data"
            name="data"
            class="mono"
            rows={8}
            value={fields.data}
            aria-invalid={blamed === 'data' ? 'true' : undefined}
            aria-describedby={describedBy('data')}
            onInput={set('data')}
          />
          <span class="hint" id="hint-data">
            JSON when the content type is JSON, text otherwise
          </span>
        </div>
        <div class="field">
          <label for="publish-extensions">Extension attributes</label>
          <textarea
            id="publish-extensions"
            name="extensions"
            class="mono"
            rows={3}
            placeholder="partitionkey=customer-42"
            value={fields.extensions}
            aria-invalid={blamed === 'extensions' ? 'true' : undefined}
            aria-describedby={describedBy('extensions')}
            onInput={set('extensions')}
          />
          <span class="hint" id="hint-extensions">
            One name=value per line
          </span>
        </div>
        <ProblemMessage problem={problem} id="publish-problem" />
        {problem?.code === 'HERALD_METHOD_NOT_ALLOWED' && (
          <p class="hint">
            This dashboard is served on the broker&apos;s admin port, and the broker takes events only on its
            data port (<code>--admin-port</code> keeps publishers and operators apart). Publish with{' '}
            <code>curl</code> or <code>herald publish</code> against the data port.
          </p>
        )}
        <p role="status" class="success">
          {accepted}
        </p>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Publish
          </button>
        </div>
      </form>
    </>
  );
}
