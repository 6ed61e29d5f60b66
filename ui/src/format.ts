/** Small formatting helpers shared by the pages. */

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatRate(perSecond: number | undefined): string {
  if (perSecond === undefined || !Number.isFinite(perSecond)) return '—';
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(' ') || '0s';
}

export function formatTime(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A subscription's filter in one line: its source and types, then each filter dialect. */
export function describeFilter(subscription: {
  source?: string;
  types?: readonly string[];
  filters?: readonly unknown[];
}): string {
  const parts: string[] = [];
  if (subscription.source !== undefined) parts.push(`source = '${subscription.source}'`);
  if (subscription.types !== undefined && subscription.types.length > 0) {
    parts.push(`type IN (${subscription.types.map((t) => `'${t}'`).join(', ')})`);
  }
  for (const filter of subscription.filters ?? []) parts.push(describeDialect(filter));
  return parts.length === 0 ? 'everything' : parts.join(' AND ');
}

function describeDialect(filter: unknown): string {
  if (typeof filter !== 'object' || filter === null) return String(filter);
  const [dialect, value] = Object.entries(filter)[0] ?? ['?', undefined];
  const pairs = (op: string) =>
    Object.entries((value ?? {}) as Record<string, unknown>)
      .map(([key, v]) => `${key} ${op} '${String(v)}'`)
      .join(' AND ');
  switch (dialect) {
    case 'exact':
      return pairs('=');
    case 'prefix':
      return pairs('starts with');
    case 'suffix':
      return pairs('ends with');
    case 'sql':
      return `(${String(value)})`;
    case 'all':
      return `(${(value as unknown[]).map(describeDialect).join(' AND ')})`;
    case 'any':
      return `(${(value as unknown[]).map(describeDialect).join(' OR ')})`;
    case 'not':
      return `NOT ${describeDialect(value)}`;
    default:
      return JSON.stringify(filter);
  }
}
