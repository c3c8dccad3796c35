import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '#shared/errors.js';
import type { RouteSpec } from '#shared/http/http.js';
import { NoArchive } from '#shared/policy/archive.js';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { policyAuthorizer } from '#shared/policy/enforcement.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { loadPolicyEngine } from '#shared/policy/source.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';

const spec = { action: 'experts:list', tag: 'experts' } as unknown as RouteSpec;
const viewer = { subject: 'v', tenantId: 'acme', roles: ['viewer'] as const, amr: [] };

describe('the policy enforcement point’s metrics', () => {
  it('counts decisions, denials and cache hits, and publishes after each decision', async () => {
    const engine = new CachedPolicyEngine(loadPolicyEngine());
    const logged: DecisionRecord[] = [];
    const enforcer = new PolicyEnforcer({
      engine,
      grants: { grantedTenants: async () => [] },
      log: { record: async (records) => void logged.push(...records) },
      archive: new NoArchive(),
      clock: new ManualClock(),
      ids: new SequentialIds(),
    });
    const metrics: Record<string, number> = {};
    let published = 0;
    const authorize = policyAuthorizer(enforcer, {
      engine,
      metrics: {
        addMetric: (name, _unit, value) => {
          metrics[name] = (metrics[name] ?? 0) + value;
        },
        publishStoredMetrics: () => {
          published += 1;
        },
      },
    });

    await authorize({
      principal: { ...viewer, roles: ['viewer'] },
      spec,
      tenantId: 'acme',
      traceId: 't-000001',
    });
    await authorize({
      principal: { ...viewer, roles: ['viewer'] },
      spec,
      tenantId: 'acme',
      traceId: 't-000002',
    });
    await expect(
      authorize({
        principal: { ...viewer, roles: ['viewer'] },
        spec,
        tenantId: 'globex',
        traceId: 't-000003',
      }),
    ).rejects.toBeInstanceOf(ForbiddenError);

    expect(metrics).toEqual({ PolicyDecisions: 3, PolicyDenied: 1, PolicyCacheHits: 1 });
    expect(published).toBe(3);
    expect(logged.map((r) => r.allow)).toEqual([true, true, false, false]);
  });

  it('carries a deferred route-level record with the answers of other services’ questions, which it does not count', async () => {
    const engine = new CachedPolicyEngine(loadPolicyEngine());
    const writes: DecisionRecord[][] = [];
    const enforcer = new PolicyEnforcer({
      engine,
      grants: { grantedTenants: async () => [] },
      log: { record: async (records) => void writes.push([...records]) },
      archive: new NoArchive(),
      clock: new ManualClock(),
      ids: new SequentialIds(),
    });
    const metrics: Record<string, number> = {};
    const authorize = policyAuthorizer(enforcer, {
      engine,
      metrics: {
        addMetric: (name, _unit, value) => {
          metrics[name] = (metrics[name] ?? 0) + value;
        },
        publishStoredMetrics: () => undefined,
      },
    });
    const operator = { subject: 'o', tenantId: 'acme', roles: ['operator'] as const, amr: [] };
    const asked = { action: 'policy:authorize', tag: 'policy' } as unknown as RouteSpec;

    const route = await authorize({
      principal: operator,
      spec: asked,
      tenantId: 'acme',
      traceId: 't',
      defer: true,
    });
    const answers = await route.deferred?.decideMany(
      [
        {
          principal: { ...viewer },
          action: 'experts:list',
          resource: { tenantId: 'acme', kind: 'experts' },
          traceId: 't',
        },
        {
          principal: { ...viewer },
          action: 'experts:delete',
          resource: { tenantId: 'acme', kind: 'experts' },
          traceId: 't',
        },
      ],
      { recordIn: 'acme', countInMetrics: false },
    );
    await route.deferred?.flush();

    expect(answers?.map((a) => a.allow)).toEqual([true, false]);
    // One write: the route-level allow with both answers; the flush after it writes nothing more.
    expect(writes.map((batch) => batch.map((r) => r.input.action))).toEqual([
      ['policy:authorize', 'experts:list', 'experts:delete'],
    ]);
    // Only the route-level decision counts: the answers' deny is not a refusal of this API.
    expect(metrics).toEqual({ PolicyDecisions: 1, PolicyDenied: 0, PolicyCacheHits: 0 });
  });
});
