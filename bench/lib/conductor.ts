import { rateFamiliesOf } from '#shared/pillar.js';
import type { PolicyEngineName } from '#shared/policy/source.js';
import { PILLARS } from '../../functions/catalog.js';
import { startConductor } from '../../infra/local/runtime.js';

/**
 * High enough that the gateway's token bucket never answers 429 during a benchmark: it measures
 * latency, not throttling (the real stage throttle is API_SETTINGS.stageThrottle).
 */
export const BENCH_THROTTLE = { rateLimit: 10_000_000, burstLimit: 10_000_000 };

/**
 * Same for the per-tenant limits (requests per minute): every request still counts itself in the
 * table, as on AWS (with the same leases), but none is refused.
 */
export const BENCH_TENANT_LIMIT = 1_000_000_000;

/** The embedded runtime as every benchmark server runs it: in memory, on a free port, limits out of the way. */
/** BENCH_TRANSPORT=http: the handlers reach the stand-ins over loopback TCP, as before a44a16d. */
export const benchTransport = (): 'http' | 'in-process' =>
  process.env.BENCH_TRANSPORT === 'http' ? 'http' : 'in-process';

/**
 * BENCH_API_WORKERS=n (or `auto`): the API functions in n worker threads (ConductorOptions.apiWorkers);
 * unset or 0, every handler runs in the main thread.
 */
export const benchApiWorkers = (): number | 'auto' => {
  const value = process.env.BENCH_API_WORKERS;
  if (value === undefined || value === '') return 0;
  if (value === 'auto') return 'auto';
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0)
    throw new Error(`BENCH_API_WORKERS: a whole number or auto (got ${value})`);
  return count;
};

/** What a result file's name says of the runtime's shape: `''`, or `.api-workers-<n>` with BENCH_API_WORKERS. */
export const benchVariant = (): string => {
  const workers = benchApiWorkers();
  return workers === 0 ? '' : `.api-workers-${workers}`;
};

export const startBenchConductor = (
  options: { policyEngine?: PolicyEngineName; allowPrivateEndpoints?: boolean } = {},
) =>
  startConductor({
    ...options,
    // Benchmarks measure latency under their own load; the in-flight bound has its own benchmark.
    maxInFlight: 1_000_000,
    transport: benchTransport(),
    apiWorkers: benchApiWorkers(),
    memory: true,
    port: 0,
    throttle: BENCH_THROTTLE,
    rateLimits: Object.fromEntries(
      Object.keys(rateFamiliesOf(PILLARS)).map((family) => [family, BENCH_TENANT_LIMIT]),
    ),
  });

/** Creates `count` model experts of the admin token's tenant (`<prefix>-e<i>`, public example endpoints); their ids. */
export const seedBenchExperts = async (apiUrl: string, adminToken: string, count: number, prefix: string) => {
  const expertIds: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const reply = await fetch(`${apiUrl}/experts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `${prefix}-e${i}`,
        type: 'model',
        costPerCallUsd: 0.001,
        endpoint: `https://e${i}.experts.example.com/v1`,
      }),
    });
    const text = await reply.text();
    if (reply.status !== 201) throw new Error(`seeding expert ${i}: ${reply.status} ${text}`);
    expertIds.push((JSON.parse(text) as { id: string }).id);
  }
  return expertIds;
};

/**
 * The runtime of a benchmark whose experts are local fakes (127.0.0.1: private endpoints allowed),
 * with a tenant admin (stepped up) and an operator of `tenant`.
 */
export const startBenchConductorWithLocalExperts = async (tenant: string) => {
  const conductor = await startBenchConductor({ allowPrivateEndpoints: true });
  const admin = await conductor.issuer.mint({
    subject: `${tenant}-admin`,
    tenant,
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const operator = await conductor.issuer.mint({
    subject: `${tenant}-operator`,
    tenant,
    roles: ['operator'],
  });
  return { conductor, admin, operator };
};
