const ISO_DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const SHORT_DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const SHORT_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration into milliseconds: ISO 8601 (`PT2M`, `P1DT12H`, as in Knative's delivery spec) or
 * the short form (`500ms`, `30s`, `2m`, `1h`, `7d`). Returns undefined when the text is neither.
 */
export function parseDuration(text: string): number | undefined {
  const short = SHORT_DURATION.exec(text);
  if (short !== null) return Math.round(Number(short[1]) * (SHORT_UNITS[short[2] as string] ?? 0));
  const iso = ISO_DURATION.exec(text);
  if (iso === null || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, m, s] = iso;
  return Math.round(
    Number(d ?? 0) * 86_400_000 +
      Number(h ?? 0) * 3_600_000 +
      Number(m ?? 0) * 60_000 +
      Number(s ?? 0) * 1000,
  );
}

const SIZE = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/** Parses a byte size: a plain number of bytes or a number with a unit (`64KiB`, `1MiB`, `2GB`). */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? 1);
}
