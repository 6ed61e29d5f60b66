/** Headers whose values are credentials whatever the operator says: never shown, logged or exported. */
const ALWAYS_SENSITIVE = ['authorization', 'cookie', 'proxy-authorization'];

/** Which `protocolsettings.headers` are write-only: the fixed ones plus `--sensitive-headers`. */
export class SensitiveHeaders {
  private readonly names: ReadonlySet<string>;

  constructor(extra: readonly string[] = []) {
    this.names = new Set([...ALWAYS_SENSITIVE, ...extra.map((name) => name.trim().toLowerCase())]);
  }

  static parse(list: string): SensitiveHeaders {
    return new SensitiveHeaders(list.split(',').filter((name) => name.trim() !== ''));
  }

  has(name: string): boolean {
    return this.names.has(name.toLowerCase());
  }

  /** The headers without sensitive ones (undefined when none are left). */
  visible(headers: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
    if (headers === undefined) return undefined;
    const kept = Object.entries(headers).filter(([name]) => !this.has(name));
    return kept.length === 0 ? undefined : Object.fromEntries(kept);
  }
}
