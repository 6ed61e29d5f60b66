import type { SecretBox } from './sealing.js';
import { SecretBox as Box } from './sealing.js';
import type { SensitiveHeaders } from './sensitive.js';

/** The parts of a subscription definition that hold secrets. */
interface WithSecrets {
  readonly sinkcredential?: Readonly<Record<string, unknown>>;
  readonly protocolsettings?: {
    readonly headers?: Readonly<Record<string, string>>;
    readonly method?: string;
  };
}

/**
 * Seals a definition's secrets before it is stored (the credential and sensitive header values)
 * and opens them when it is read back. Without a key both are the identity: the store then holds
 * the secrets in plain text, as docs/security.md says.
 */
export class DefinitionSecrets {
  constructor(
    private readonly box: SecretBox | undefined,
    private readonly sensitive: SensitiveHeaders,
  ) {}

  private mapHeaders<T extends WithSecrets>(
    definition: T,
    transform: (value: string) => string,
  ): T['protocolsettings'] {
    const settings = definition.protocolsettings;
    if (settings?.headers === undefined) return settings as T['protocolsettings'];
    const headers = Object.fromEntries(
      Object.entries(settings.headers).map(([name, value]) => [
        name,
        this.sensitive.has(name) ? transform(value) : value,
      ]),
    );
    return { ...settings, headers } as T['protocolsettings'];
  }

  seal<T extends WithSecrets>(definition: T): T {
    const box = this.box;
    if (box === undefined) return definition;
    const sealValue = (value: string) => (Box.isSealed(value) ? value : box.seal(value));
    return {
      ...definition,
      ...(definition.sinkcredential === undefined
        ? {}
        : { sinkcredential: { sealed: box.seal(JSON.stringify(definition.sinkcredential)) } }),
      ...(definition.protocolsettings === undefined
        ? {}
        : { protocolsettings: this.mapHeaders(definition, sealValue) }),
    };
  }

  open<T extends WithSecrets>(definition: T): T {
    const sealed = definition.sinkcredential?.['sealed'];
    const needsKey =
      Box.isSealed(sealed) ||
      Object.values(definition.protocolsettings?.headers ?? {}).some((v) => Box.isSealed(v));
    if (!needsKey) return definition;
    const box = this.box;
    if (box === undefined) {
      throw new Error(
        'a stored subscription holds sealed secrets: start the broker with its --secret-key-file',
      );
    }
    const openOne = (value: string) => {
      try {
        return box.open(value);
      } catch {
        throw new Error('a stored secret does not open with this --secret-key-file (another key sealed it)');
      }
    };
    const openValue = (value: string) => (Box.isSealed(value) ? openOne(value) : value);
    return {
      ...definition,
      ...(Box.isSealed(sealed)
        ? { sinkcredential: JSON.parse(openOne(sealed)) as Record<string, unknown> }
        : {}),
      ...(definition.protocolsettings === undefined
        ? {}
        : { protocolsettings: this.mapHeaders(definition, openValue) }),
    };
  }
}
