// The shape of one row of the hostile-input suite (test/security/hostile.test.ts). Each file in
// hostile-cases/ exports `cases`: an array of these.

/** What a row may use: the broker's URLs, credentials, and resources owned by someone else. */
export interface HostileContext {
  readonly dataUrl: string;
  readonly adminUrl: string;
  /** Static bearer tokens of the test principals (see fixtures.ts for their rules). */
  readonly tokens: Readonly<Record<'alice' | 'bob' | 'ops' | 'reader' | 'nobody', string>>;
  /** JWTs: a valid one per principal, and hostile ones. */
  readonly jwt: Readonly<{
    valid: (sub: string) => string;
    expired: string;
    notYetValid: string;
    wrongIssuer: string;
    wrongAudience: string;
    algNone: string;
    hmacConfusion: string;
    unknownKey: string;
    tampered: string;
    noSubject: string;
  }>;
  /** A subscription owned by bob (alice must not touch it). */
  readonly bobSubscription: string;
  /** A seed subscription group owned by bob. */
  readonly bobSeedGroup: string;
}

export interface HostileRequest {
  readonly port: 'data' | 'admin';
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface HostileCase {
  readonly name: string;
  readonly request: (context: HostileContext) => HostileRequest;
  readonly status: number;
  readonly code: string;
}

/**
 * A row written as plain data (hostile-cases/sinks.ts): one request without credentials and the answer
 * it must get. The suite sends it as the admin principal, with a JSON body, on the port that serves
 * the path, so that only what the row is about can refuse it.
 */
export interface StaticHostileCase {
  readonly name: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: unknown;
  };
  readonly expect: { readonly status: number; readonly code: string };
}
