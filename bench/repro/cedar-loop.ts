/**
 * One fresh process of the V8 fatal-error repro (see `bench/repro/README.md`): the in-process phase
 * of `npm run bench:policy`, without the HTTP phase, the tables or the result file, repeated
 * REPRO_ROUNDS times (default 1). The request mix, its seed and the call shapes are the bench's.
 *
 *   node --import tsx bench/repro/cedar-loop.ts <mode>
 *
 * mode:
 *   raw     the raw `statefulIsAuthorized` call on a preparsed schema and policy set, 20,000 requests
 *           plus 2,000 warm-up (the bench's baseline row)
 *   engine  `CedarPolicyEngine.decide` only, uncached then through the 60 s cache (60,000 requests)
 *   opa     `OpaPolicyEngine.decide` only (the committed wasm bundle), uncached, batch of 30, cached
 *   full    the whole in-process phase in the bench's order: raw + engine interleaved warm-up, raw,
 *           engine, cache; then Cedar and OPA side by side (uncached, batch of 30, cached); then
 *           engine load times (a new CedarPolicyEngine and OPA bundle 6 times each)
 *
 * Exits 0 and prints `ok <mode> <ms>` when it lives; a V8 fatal error kills it with SIGTRAP (133).
 */

import { createRequire } from 'node:module';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { OpaPolicyEngine } from '#shared/policy/opa.js';
import { defaultOpaBundleDir, defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

type Cedar = typeof import('@cedar-policy/cedar-wasm/nodejs');
const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;

let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const TENANTS = Array.from({ length: 10 }, (_, i) => `tenant-${i}`);
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
const realisticRequest = (): AuthzRequest => {
  const tenant = pick(TENANTS);
  const user = Math.floor(20 * random() ** 2);
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

// The bench times every call with hrtime into an array; kept, as it shapes what the JIT sees.
const time = (fn: () => void, runs: number): number[] => {
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return samples;
};

const sources = readPolicySources(defaultPolicyDir());
// Where a crashed run was: the last `phase` line of its stdout (writes to a file are synchronous).
const phase = (name: string) => process.stdout.write(`phase ${name}\n`);

const rawCall = () => {
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

const engineFigures = (
  engine: PolicyEngine,
  requests: readonly AuthzRequest[],
  mix: readonly AuthzRequest[],
) => {
  for (const request of requests.slice(0, 2000)) engine.decide(request);
  let i = 0;
  time(() => engine.decide(requests[i++ % requests.length] as AuthzRequest), requests.length);
  i = 0;
  time(() => {
    for (let k = 0; k < 30; k += 1) engine.decide(requests[i++ % requests.length] as AuthzRequest);
  }, 2000);
  let now = 0;
  const cached = new CachedPolicyEngine(engine, () => now);
  i = 0;
  time(() => {
    now += 1000 / 150;
    cached.decide(mix[i++ % mix.length] as AuthzRequest);
  }, mix.length);
};

const modes: Record<string, () => Promise<void>> = {
  raw: async () => {
    const { raw } = rawCall();
    const requests = Array.from({ length: 20_000 }, realisticRequest);
    for (const request of requests.slice(0, 2000)) raw(request);
    let i = 0;
    time(() => raw(requests[i++ % requests.length] as AuthzRequest), requests.length);
  },
  engine: async () => {
    const engine = new CedarPolicyEngine(sources);
    engineFigures(
      engine,
      Array.from({ length: 20_000 }, realisticRequest),
      Array.from({ length: 60_000 }, realisticRequest),
    );
  },
  opa: async () => {
    const engine = await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
    engineFigures(
      engine,
      Array.from({ length: 20_000 }, realisticRequest),
      Array.from({ length: 60_000 }, realisticRequest),
    );
  },
  full: async () => {
    phase('warm-up raw+engine');
    const { engine, raw } = rawCall();
    const requests = Array.from({ length: 20_000 }, realisticRequest);
    for (const request of requests.slice(0, 2000)) {
      raw(request);
      engine.decide(request);
    }
    phase('raw');
    let i = 0;
    time(() => raw(requests[i++ % requests.length] as AuthzRequest), requests.length);
    phase('engine uncached');
    i = 0;
    time(() => engine.decide(requests[i++ % requests.length] as AuthzRequest), requests.length);
    phase('engine cached');
    let now = 0;
    const cached = new CachedPolicyEngine(engine, () => now);
    const mix = Array.from({ length: 60_000 }, realisticRequest);
    i = 0;
    time(() => {
      now += 1000 / 150;
      cached.decide(mix[i++ % mix.length] as AuthzRequest);
    }, mix.length);
    const same = Array.from({ length: 20_000 }, realisticRequest);
    const sameMix = Array.from({ length: 60_000 }, realisticRequest);
    phase('side by side: cedar');
    engineFigures(new CedarPolicyEngine(sources), same, sameMix);
    phase('side by side: opa');
    engineFigures(await OpaPolicyEngine.loadBundle(defaultOpaBundleDir()), same, sameMix);
    phase('load times');
    for (let k = 0; k < 6; k += 1) {
      new CedarPolicyEngine(sources);
      await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
    }
  },
};

const mode = process.argv[2] ?? 'full';
const run = modes[mode];
if (!run) {
  process.stderr.write(`unknown mode ${mode}: one of ${Object.keys(modes).join(', ')}\n`);
  process.exit(2);
}
const rounds = Number(process.env.REPRO_ROUNDS ?? 1);
const start = process.hrtime.bigint();
for (let r = 0; r < rounds; r += 1) await run();
process.stdout.write(`ok ${mode} ${Math.round(Number(process.hrtime.bigint() - start) / 1e6)}\n`);
