import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { asProblem } from './api';
import type { Problem } from './api';

/** A broker problem as the user sees it: what failed, why, and its code. */
export function ProblemMessage({ problem, id }: { problem: Problem | undefined; id?: string }) {
  if (problem === undefined) return null;
  const hint =
    problem.code === 'HERALD_FORBIDDEN'
      ? ' Your token does not allow this.'
      : problem.code === 'HERALD_UNAUTHENTICATED'
        ? ' Sign in with a token to see this.'
        : '';
  return (
    <div class="problem" role="alert" id={id}>
      <strong>{problem.title}</strong>
      {problem.detail !== '' && <span>: {problem.detail}</span>}
      {hint}
      <code class="problem-code">{problem.code}</code>
    </div>
  );
}

export interface Polled<T> {
  readonly data: T | undefined;
  readonly problem: Problem | undefined;
  readonly refresh: () => void;
}

/** Loads `load()` now and every `intervalMs` while the page is shown; keeps the last good answer. */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Polled<T> {
  const [data, setData] = useState<T>();
  const [problem, setProblem] = useState<Problem>();
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    const run = async () => {
      try {
        const value = await load();
        if (cancelled) return;
        setData(value);
        setProblem(undefined);
      } catch (error) {
        if (!cancelled) setProblem(asProblem(error));
      }
      if (!cancelled) timer = window.setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
    // `load` is a new closure each render; callers list in `deps` what it depends on.
  }, [tick, intervalMs, ...deps]);
  return { data, problem, refresh };
}

/** A modal `<dialog>`: focus moves in, Escape closes it, focus returns where it was. */
export function Modal({
  open,
  labelledBy,
  onClose,
  children,
}: {
  open: boolean;
  labelledBy: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={labelledBy}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      {open && children}
    </dialog>
  );
}

/** Asks for a bearer token (kept in sessionStorage by the API layer). */
export function TokenDialog({
  reason,
  onDone,
}: {
  reason: string | undefined;
  onDone: (token: string | undefined) => void;
}) {
  const [value, setValue] = useState('');
  return (
    <Modal open={reason !== undefined} labelledBy="token-title" onClose={() => onDone(undefined)}>
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          onDone(value.trim());
          setValue('');
        }}
      >
        <h2 id="token-title">Sign in</h2>
        <p id="token-reason">{reason}</p>
        <label for="token-input">Bearer token</label>
        <input
          id="token-input"
          type="password"
          autocomplete="off"
          required
          aria-describedby="token-reason"
          value={value}
          onInput={(event) => setValue(event.currentTarget.value)}
          autofocus
        />
        <div class="actions">
          <button type="submit" class="primary">
            Use token
          </button>
          <button type="button" onClick={() => onDone(undefined)}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Asks before something that cannot be undone. */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <Modal open={open} labelledBy="confirm-title" onClose={onCancel}>
      <h2 id="confirm-title">{title}</h2>
      {children}
      <div class="actions">
        <button type="button" class="danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
        <button type="button" onClick={onCancel} autofocus>
          Cancel
        </button>
      </div>
    </Modal>
  );
}

/** The state of a subscription as a labelled badge (colour is never the only signal). */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

/** Pretty JSON in a scrollable, focusable block (keyboard users can scroll it). */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}
