import type { PolicySources } from '#shared/policy/cedar.js';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import type { AuthzRequest } from '#shared/ports/policy.js';

/**
 * The policy benchmark's request mix and timing loop, shared by `bench/policy.ts` and the V8 crash
 * repro (`bench/repro/cedar-loop.ts`), which must draw the same requests in the same way.
 */
// A deterministic pseudo-random stream, so every run draws the same mix.
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

export const TENANTS = Array.from({ length: 10 }, (_, i) => `tenant-${i}`);
const USERS_PER_TENANT = 20;
const ROLE_SETS = [['viewer'], ['viewer'], ['operator'], ['operator'], ['admin'], ['tenant-admin']];
const ACTIONS: readonly [string, number][] = [
  ['experts:list', 35],
  ['experts:get', 30],
  ['policy:authorize', 15],
  ['experts:update', 8],
  ['experts:create', 5],
  ['policy:decisions:list', 5],
  ['experts:delete', 2],
];
const weighted = (): string => {
  let roll = random() * 100;
  for (const [action, weight] of ACTIONS) {
    roll -= weight;
    if (roll <= 0) return action;
  }
  return 'experts:list';
};

/** A realistic request: Zipf-ish users (a few busy ones), mostly reads, 2 % cross-tenant. */
export const realisticRequest = (): AuthzRequest => {
  const tenant = pick(TENANTS);
  const user = Math.floor(USERS_PER_TENANT * random() ** 2);
  const crosses = random() < 0.02;
  return {
    principal: {
      subject: `${tenant}-user-${user}`,
      tenantId: tenant,
      roles: ROLE_SETS[user % ROLE_SETS.length] ?? ['viewer'],
    },
    action: weighted(),
    resource: { tenantId: crosses ? pick(TENANTS) : tenant, kind: 'experts' },
    context: { mfa: user % 3 === 0, grantedTenants: [] },
  };
};

export const time = (fn: () => void, runs: number): number[] => {
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return samples;
};

/**
 * The raw Cedar call (`statefulIsAuthorized` on a preparsed schema and policy set, two entities): the
 * baseline of the in-process figures. `cedar` is passed in: the benchmark loads it through the
 * kernel's `loadCedar`, the repro also without it.
 */
type Cedar = typeof import('@cedar-policy/cedar-wasm/nodejs');

export const rawCedarCaller = (
  cedar: Pick<Cedar, 'preparseSchema' | 'preparsePolicySet' | 'statefulIsAuthorized'>,
  sources: PolicySources,
) => {
  const engine = new CedarPolicyEngine(sources);
  cedar.preparseSchema('bench-schema', sources.schema);
  cedar.preparsePolicySet('bench-policies', {
    staticPolicies: Object.fromEntries(engine.policies.map((p) => [p.id, p.text])),
  });
  const raw = (request: AuthzRequest) =>
    cedar.statefulIsAuthorized({
      principal: { type: 'Conductor::User', id: request.principal.subject },
      action: { type: 'Conductor::Action', id: request.action },
      resource: { type: 'Conductor::Resource', id: request.resource.kind },
      context: { mfa: request.context.mfa, grantedTenants: [...request.context.grantedTenants] },
      preparsedSchemaName: 'bench-schema',
      preparsedPolicySetId: 'bench-policies',
      validateRequest: true,
      entities: [
        {
          uid: { type: 'Conductor::User', id: request.principal.subject },
          attrs: {
            subject: request.principal.subject,
            tenant: request.principal.tenantId,
            roles: [...request.principal.roles],
          },
          parents: [],
        },
        {
          uid: { type: 'Conductor::Resource', id: request.resource.kind },
          attrs: { tenant: request.resource.tenantId, kind: request.resource.kind },
          parents: [],
        },
      ],
    });
  return { engine, raw };
};
