// Istio and Gateway API CRDs for the docs tests, fetched by test/infra/mesh/fetch.sh from the Go
// module proxy. Never skipped: missing files fail the test with the command that fetches them.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const MESH_FETCH_SCRIPT = 'test/infra/mesh/fetch.sh';

/** The pinned versions, read from the script so that the two cannot disagree. */
function pinned(name: string): string {
  const script = readFileSync(new URL('./fetch.sh', import.meta.url), 'utf8');
  const match = new RegExp(`${name}="\\$\\{${name}:-(v[0-9.]+)\\}"`).exec(script);
  if (match?.[1] === undefined) throw new Error(`${MESH_FETCH_SCRIPT} does not pin ${name}`);
  return process.env[name] ?? match[1];
}

export interface MeshCrds {
  /** Every Istio CRD (networking, security, telemetry, extensions). */
  readonly istio: string;
  /** The Gateway API standard channel CRDs. */
  readonly gatewayApi: string;
}

export function meshCrds(): MeshCrds {
  const cache = process.env['HERALD_CACHE'] ?? join(homedir(), '.cache', 'herald');
  const dir = join(
    cache,
    'crds',
    `istio-${pinned('ISTIO_API_VERSION')}_gateway-api-${pinned('GATEWAY_API_VERSION')}`,
  );
  const istio = join(dir, 'istio.yaml');
  const gatewayApi = join(dir, 'gateway-api.yaml');
  if (!existsSync(istio) || !existsSync(gatewayApi)) {
    throw new Error(
      `Istio/Gateway API CRDs not found in ${dir}. Fetch them with \`bash ${MESH_FETCH_SCRIPT}\`.`,
    );
  }
  return { istio: readFileSync(istio, 'utf8'), gatewayApi: readFileSync(gatewayApi, 'utf8') };
}
