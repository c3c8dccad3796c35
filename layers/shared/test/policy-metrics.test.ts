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

/**
 * An enforcer over a real engine whose log writes are kept (`writes`, one entry per write), and its
 * route authorizer with a metrics sink that sums each metric (`metrics`) and counts publishes.
 */
const observed = () => {
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
  const events: string[] = [];
  const counts = { published: 0 };
  const authorize = policyAuthorizer(enforcer, {
    engine,
    metrics: {
      addMetric: (name, _unit, value) => {
        metrics[name] = (metrics[name] ?? 0) + value;
        events.push(`${name}=${value}`);
      },
      publishStoredMetrics: () => {
        counts.published += 1;
        events.push('publish');
      },
    },
  });
  return { authorize, writes, metrics, events, counts };
};

describe('the policy enforcement point’s metrics', () => {
  it('counts decisions, denials and cache hits, and publishes after each decision', async () => {
    const { authorize, writes, metrics, counts } = observed();

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
    expect(counts.published).toBe(3);
    expect(writes.flat().map((r) => r.allow)).toEqual([true, true, false, false]);
  });

  it('carries a deferred route-level record with the answers of other services’ questions, which it does not count', async () => {
    const { authorize, writes, metrics, counts } = observed();
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
    // Only the route-level decision counts: the answers' deny is not a refusal of this API. Its
    // counts wait for the request's one publish, the kernel's flush.
    expect(metrics).toEqual({ PolicyDecisions: 1, PolicyDenied: 0, PolicyCacheHits: 0 });
    expect(counts.published).toBe(1);
  });

  it('publishes a deferred route’s counts once per request: with its batch, or at the flush', async () => {
    const { authorize, events } = observed();
    const operator = { subject: 'o', tenantId: 'acme', roles: ['operator'] as const, amr: [] };
    const routeSpec = { action: 'router:route', tag: 'router' } as unknown as RouteSpec;
    const candidate = (id: string) => ({
      principal: operator,
      action: 'router:route-to',
      resource: { tenantId: 'acme', kind: 'experts', id },
      traceId: 't',
    });

    // A route: its candidates' batch publishes the route-level counts with its own; the flush adds nothing.
    const route = await authorize({
      principal: operator,
      spec: routeSpec,
      tenantId: 'acme',
      traceId: 't',
      defer: true,
    });
    await route.deferred?.decideMany([candidate('a'), candidate('b')]);
    await route.deferred?.flush();
    const afterRoute = events.splice(0);
    // A read (no batch): the flush publishes.
    const read = await authorize({ principal: operator, spec, tenantId: 'acme', traceId: 't', defer: true });
    await read.deferred?.flush();

    expect(afterRoute.filter((e) => e === 'publish')).toHaveLength(1);
    expect(afterRoute.at(-1)).toBe('publish');
    expect(afterRoute.filter((e) => e.startsWith('PolicyDecisions='))).toEqual([
      'PolicyDecisions=1',
      'PolicyDecisions=2',
    ]);
    expect(events.filter((e) => e === 'publish')).toHaveLength(1);
    expect(events.at(-1)).toBe('publish');
  });
});
