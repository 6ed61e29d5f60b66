import { z } from 'zod';

/**
 * `sinkcredential` of the CloudEvents Subscriptions API: what the broker presents to the sink.
 * `secretRef` is the Kubernetes form: the broker reads the credential from a Secret in the
 * subscription's namespace, so the resource itself never holds it.
 */
export const sinkCredentialSchema = z.union([
  z.strictObject({
    credentialtype: z.literal('ACCESSTOKEN'),
    accesstoken: z.string().min(1).max(8192),
  }),
  z.strictObject({
    credentialtype: z.literal('PLAIN'),
    identity: z
      .string()
      .min(1)
      .max(1024)
      .refine((v) => !v.includes(':'), 'must not contain ":"'),
    secret: z.string().min(1).max(8192),
  }),
  z.strictObject({
    secretRef: z.strictObject({
      name: z.string().min(1).max(253),
    }),
  }),
]);

export type SinkCredential = z.infer<typeof sinkCredentialSchema>;

const controlCharacters = /[\r\n\0]/;

/** The `Authorization` header a credential becomes (undefined for an unresolved `secretRef`). */
export function authorizationFor(credential: unknown): string | undefined {
  const parsed = sinkCredentialSchema.safeParse(credential);
  if (!parsed.success) return undefined;
  const value = parsed.data;
  if ('secretRef' in value) return undefined;
  const header =
    value.credentialtype === 'ACCESSTOKEN'
      ? `Bearer ${value.accesstoken}`
      : `Basic ${Buffer.from(`${value.identity}:${value.secret}`, 'utf8').toString('base64')}`;
  return controlCharacters.test(header) ? undefined : header;
}

/**
 * The credential a Kubernetes Secret holds: `accesstoken` (Bearer), or `identity` and `secret`
 * (Basic). Undefined when the Secret has neither.
 */
export function credentialFromSecret(data: Readonly<Record<string, string>>): SinkCredential | undefined {
  const parsed = sinkCredentialSchema.safeParse(
    data['accesstoken'] !== undefined
      ? { credentialtype: 'ACCESSTOKEN', accesstoken: data['accesstoken'] }
      : { credentialtype: 'PLAIN', identity: data['identity'], secret: data['secret'] },
  );
  return parsed.success ? parsed.data : undefined;
}
