// SPDX-License-Identifier: Apache-2.0
// Result rows, target checks and the markdown table.

export type Status = 'pass' | 'miss' | 'info' | 'not available' | 'error';

/** How a row's result is judged. */
export type Target =
  /** result / baseline must be at least `min`. */
  | { readonly kind: 'ratio-to-baseline'; readonly min: number }
  /** result must be at least `min` (ratio shown: result / min). */
  | { readonly kind: 'at-least'; readonly min: number; readonly unit: string }
  /** result must be below `max` (ratio shown: result / max, lower is better). */
  | { readonly kind: 'below'; readonly max: number; readonly unit: string }
  /** result must be at most `max` (ratio shown: result / max, lower is better). */
  | { readonly kind: 'at-most'; readonly max: number; readonly unit: string }
  /** judged by the scenario itself; `text` says how. */
  | { readonly kind: 'custom'; readonly text: string; readonly pass: boolean };

export interface Row {
  readonly scenario: string;
  readonly name: string;
  readonly value: number | null;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number; readonly unit: string };
  readonly target?: Target;
  /** Extra numbers shown after the result, e.g. "p99 2.1 ms". */
  readonly detail?: string;
  /** When the row could not be measured. */
  readonly unavailable?: string;
  readonly data?: Record<string, unknown>;
}

export interface JudgedRow extends Row {
  readonly ratio: number | null;
  readonly status: Status;
}

export function judge(row: Row): JudgedRow {
  if (row.unavailable !== undefined) return { ...row, ratio: null, status: 'not available' };
  const value = row.value;
  if (value === null || !Number.isFinite(value)) return { ...row, ratio: null, status: 'error' };
  const target = row.target;
  const base = row.baseline?.value;
  let ratio: number | null = base !== undefined && base > 0 ? value / base : null;
  if (target === undefined) return { ...row, ratio, status: 'info' };
  switch (target.kind) {
    case 'ratio-to-baseline':
      return { ...row, ratio, status: ratio !== null && ratio >= target.min ? 'pass' : 'miss' };
    case 'at-least':
      ratio = value / target.min;
      return { ...row, ratio, status: value >= target.min ? 'pass' : 'miss' };
    case 'below':
      ratio = value / target.max;
      return { ...row, ratio, status: value < target.max ? 'pass' : 'miss' };
    case 'at-most':
      ratio = value / target.max;
      return { ...row, ratio, status: value <= target.max ? 'pass' : 'miss' };
    case 'custom':
      return { ...row, ratio, status: target.pass ? 'pass' : 'miss' };
  }
}

export function formatNumber(value: number, unit = ''): string {
  let text: string;
  if (unit === 'ms')
    text =
      value < 10
        ? value.toFixed(2)
        : value < 100
          ? value.toFixed(1)
          : Math.round(value).toLocaleString('en-US');
  else if (Math.abs(value) >= 100) text = Math.round(value).toLocaleString('en-US');
  else if (Math.abs(value) >= 10) text = value.toFixed(1);
  else text = value.toFixed(2);
  return unit === '' ? text : `${text} ${unit}`;
}

function targetText(row: Row): string {
  const target = row.target;
  if (target === undefined) return '';
  switch (target.kind) {
    case 'ratio-to-baseline':
      return `≥ ${target.min.toFixed(2)} × baseline`;
    case 'at-least':
      return `≥ ${formatNumber(target.min, target.unit)}`;
    case 'below':
      return `< ${formatNumber(target.max, target.unit)}`;
    case 'at-most':
      return `≤ ${formatNumber(target.max, target.unit)}`;
    case 'custom':
      return target.text;
  }
}

function referenceText(row: Row): string {
  if (row.baseline !== undefined)
    return `${row.baseline.name}: ${formatNumber(row.baseline.value, row.baseline.unit)}`;
  const target = row.target;
  if (target?.kind === 'at-least' || target?.kind === 'below' || target?.kind === 'at-most') return 'target';
  return '';
}

const escape = (text: string): string => text.replaceAll('|', '\\|');

/** The markdown results table: one line per row, ratio to the baseline (or to the target when there is none). */
export function markdownTable(rows: readonly JudgedRow[]): string {
  const lines = [
    '| # | Measurement | Result | Compared with | Ratio | Target | Status |',
    '|---|---|--:|---|--:|---|---|',
  ];
  for (const row of rows) {
    const result =
      row.unavailable !== undefined
        ? `not available (${row.unavailable})`
        : row.value === null
          ? 'error'
          : `${formatNumber(row.value, row.unit)}${row.detail === undefined ? '' : ` (${row.detail})`}`;
    const ratio = row.ratio === null ? '' : row.ratio.toFixed(2);
    lines.push(
      `| ${row.scenario} | ${escape(row.name)} | ${escape(result)} | ${escape(referenceText(row))} | ${ratio} | ${escape(targetText(row))} | ${row.status} |`,
    );
  }
  return lines.join('\n');
}
