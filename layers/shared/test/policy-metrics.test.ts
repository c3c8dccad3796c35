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
});
