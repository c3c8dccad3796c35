import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { CedarPolicyEngine, type PolicySources } from '#shared/policy/cedar.js';
import { OpaPolicyEngine } from '#shared/policy/opa.js';
import { defaultOpaBundleDir, defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { ROLES } from '#shared/ports/identity.js';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

/**
 * Invariants of the policy set over random principals, tenants, roles, actions and grants, held by
 * both engines: Cedar (policies/cedar) and OPA (the committed bundle of policies/rego), and the two
 * deciding alike on every request drawn.
 */
const sources = readPolicySources(defaultPolicyDir());
const cedar = new CedarPolicyEngine(sources);
const opa = await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
const actions = [...sources.schema.matchAll(/action\s+([^;{]+?)\s+in\s+\[/g)]
  .flatMap((m) => [...(m[1] ?? '').matchAll(/"([^"]+)"/g)].map((a) => a[1] ?? ''))
  .filter((a) => a.includes(':'));
const tenants = ['acme', 'globex', 'initech', 'umbrella'];

const requestArb: fc.Arbitrary<AuthzRequest> = fc.record({
  principal: fc.record({
    subject: fc.constantFrom('alice', 'bob', 'carol'),
    tenantId: fc.constantFrom(...tenants),
    roles: fc.subarray([...ROLES, 'superuser', 'root'] as string[]),
  }),
  action: fc.constantFrom(...actions),
  // classification, approverRoles and requestedBy are optional (Cedar's `classification?`, ...):
  // each drawn absent or present; a requester among the subjects drawn, so sometimes the caller.
  resource: fc.record(
    {
      tenantId: fc.constantFrom(...tenants),
      kind: fc.constantFrom('experts', 'policy', 'approval-requests'),
      classification: fc.constantFrom('restricted', 'internal'),
      approverRoles: fc.subarray([...ROLES, 'superuser'] as string[]),
      requestedBy: fc.constantFrom('alice', 'bob', 'carol'),
    },
    { requiredKeys: ['tenantId', 'kind'] },
  ),
  context: fc.record({ mfa: fc.boolean(), grantedTenants: fc.subarray(tenants) }),
});

describe('the OPA engine (fast-check)', () => {
  it('decides every request as Cedar does: allow, obligations, masks and determining policies', () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        const { allow, obligations, masks, reasons } = opa.decide(request);
        const expected = cedar.decide(request);
        expect({ allow, obligations, masks, reasons }).toEqual({
          allow: expected.allow,
          obligations: expected.obligations,
          masks: expected.masks,
          reasons: expected.reasons,
        });
      }),
      { numRuns: 3000 },
    );
  });
});

describe.each([
  ['Cedar', cedar],
  ['OPA', opa],
] as [string, PolicyEngine][])('policy invariants of %s (fast-check)', (_name, engine) => {
  it('found every action of the schema to draw from', () => {
    expect(actions).toEqual(
      expect.arrayContaining(['experts:get', 'experts:create', 'policy:grants:request']),
    );
  });

  it('never allows crossing tenants without a live grant for the resource tenant (except asking for one, or withdrawing it)', () => {
    const asking = ['policy:grants:request', 'policy:grants:revoke'];
    fc.assert(
      fc.property(requestArb, (request) => {
        const decision = engine.decide(request);
        const crosses = request.principal.tenantId !== request.resource.tenantId;
        const granted = request.context.grantedTenants.includes(request.resource.tenantId);
        if (decision.allow && crosses && !granted) {
          expect(asking).toContain(request.action);
        }
        if (crosses && !granted && !asking.includes(request.action)) {
          expect(decision.allow).toBe(false);
          expect(decision.obligations).toContain('request_approval');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never routes a caller without an admin-level role to a restricted expert', () => {
    const admins = ['admin', 'tenant-admin', 'org-admin'];
    let restricted = 0;
    fc.assert(
      fc.property(requestArb, (request) => {
        const routed = engine.decide({ ...request, action: 'router:route-to' });
        const isAdmin = request.principal.roles.some((role) => admins.includes(role));
        if (request.resource.classification === 'restricted' && !isAdmin) {
          restricted += 1;
          expect(routed.allow).toBe(false);
          expect(routed.reasons).toContain('restricted-experts-need-admin');
        }
        if (request.resource.classification !== 'restricted')
          expect(routed.reasons).not.toContain('restricted-experts-need-admin');
      }),
      { numRuns: 1000 },
    );
    expect(restricted).toBeGreaterThan(50);
  });

  it("lets only a holder of the stage's roles, in the request's own tenant, stepped up, decide an approval, and never the requester", () => {
    let allowed = 0;
    fc.assert(
      fc.property(requestArb, (request) => {
        const decision = engine.decide({ ...request, action: 'runbooks:approvals:decide' });
        const { principal, resource, context } = request;
        const roles: readonly string[] = principal.roles;
        const inStageRole = (resource.approverRoles ?? []).some((role) => roles.includes(role));
        const own = resource.requestedBy === principal.subject;
        expect(decision.allow).toBe(
          principal.tenantId === resource.tenantId && inStageRole && context.mfa && !own,
        );
        if (own) expect(decision.reasons).toContain('requester-cannot-approve');
        else expect(decision.reasons).not.toContain('requester-cannot-approve');
        if (decision.allow) {
          allowed += 1;
          expect(decision.reasons).toEqual(['approve-in-stage-role']);
        }
      }),
      { numRuns: 2000 },
    );
    expect(allowed).toBeGreaterThan(20);
  });

  it('decides the same with and without the cache, whatever the order of questions', () => {
    let now = 0;
    const cached = new CachedPolicyEngine(engine, () => now);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(requestArb, fc.integer({ min: 0, max: 90_000 })), { maxLength: 40 }),
        (steps) => {
          for (const [request, advance] of steps) {
            now += advance;
            const { allow, obligations, masks, reasons } = cached.decide(request);
            const direct = engine.decide(request);
            expect({ allow, obligations, masks, reasons }).toEqual({
              allow: direct.allow,
              obligations: direct.obligations,
              masks: direct.masks,
              reasons: direct.reasons,
            });
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(cached.stats.hits + cached.stats.misses).toBeGreaterThan(0);
  });

  it('fails closed: an unknown action is a deny with a reason, never an allow', () => {
    const decision = engine.decide({
      principal: { subject: 'alice', tenantId: 'acme', roles: ['org-admin'] },
      action: 'experts:obliterate',
      resource: { tenantId: 'acme', kind: 'experts' },
      context: { mfa: true, grantedTenants: [] },
    });
    expect(decision.allow).toBe(false);
    expect(decision.error).toBeTruthy();
  });
});

describe('Cedar policy composition (fast-check)', () => {
  it('lets a forbid beat any permit: the same request with a permit-everything policy added is still denied', () => {
    const permissive: PolicySources = {
      schema: sources.schema,
      policies: {
        ...sources.policies,
        'zz-permit-all.cedar': '@id("permit-everything")\npermit (principal, action, resource);',
      },
    };
    const loose = new CedarPolicyEngine(permissive);
    let forbids = 0;
    fc.assert(
      fc.property(requestArb, (request) => {
        const strict = cedar.decide(request);
        const relaxed = loose.decide(request);
        const forbidden = strict.reasons.some(
          (id) => id.startsWith('cross-tenant') || id.startsWith('sensitive') || id.startsWith('restricted'),
        );
        if (forbidden && !strict.allow) {
          forbids += 1;
          expect(relaxed.allow).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
    expect(forbids).toBeGreaterThan(100);
  });
});
