import { describe, expect, it, vi } from 'vitest';
import { ServiceUnavailableError } from '#shared/errors.js';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { makeEnforcement, policyAuthorizer, policyDecideMany } from '#shared/policy/enforcement.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { loadPolicyEngine } from '#shared/policy/source.js';
import type { ConductorEvent } from '#shared/ports/events.js';
import type { Principal } from '#shared/ports/identity.js';
import type {
  DecisionArchive,
  DecisionLog,
  DecisionRecord,
  EnforceInput,
  GrantLookup,
  PolicyEngine,
} from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { silentLogger } from '#shared/testing/fakes.js';

/** PolicyEnforcer.decideMany: many decisions, one decision-log write and one archive hand-off. */
const operator: Principal = { subject: 'u-acme-operator', tenantId: 'acme', roles: ['operator'], amr: [] };

const routeTo = (
  expertId: string,
  options: { tenantId?: string; classification?: string; principal?: Principal } = {},
): EnforceInput => ({
  principal: options.principal ?? operator,
  action: 'router:route-to',
  resource: {
    tenantId: options.tenantId ?? 'acme',
    kind: 'experts',
    id: expertId,
    ...(options.classification ? { classification: options.classification } : {}),
  },
  traceId: 't-route-1',
});

/** A store that records each call it gets, or fails with `failure`. */
const store = (failure?: Error) => {
  const calls: (readonly DecisionRecord[])[] = [];
  const write = async (records: readonly DecisionRecord[]): Promise<void> => {
    calls.push(records);
    if (failure) throw failure;
  };
  return {
    calls,
    log: { record: write } satisfies DecisionLog,
    archive: { append: write } satisfies DecisionArchive,
  };
};

const setup = (
  options: {
    log?: DecisionLog;
    archive?: DecisionArchive;
    grants?: GrantLookup;
    engine?: PolicyEngine;
    publish?: (events: readonly ConductorEvent[]) => Promise<void>;
  } = {},
) => {
  const hot = store();
  const archive = store();
  const published: (readonly ConductorEvent[])[] = [];
  const logger = silentLogger();
  const errors = vi.spyOn(logger, 'error');
  const grantCalls: [string, string, string][] = [];
  const enforcer = new PolicyEnforcer({
    engine: options.engine ?? loadPolicyEngine(),
    grants: options.grants ?? {
      grantedTenants: async (principal, target, at) => {
        grantCalls.push([principal.subject, target, at.toISOString()]);
        return [];
      },
    },
    log: options.log ?? hot.log,
    archive: options.archive ?? archive.archive,
    events: {
      publish:
        options.publish ??
        (async (events) => {
          published.push(events);
        }),
    },
    clock: new ManualClock('2026-03-01T10:00:00.000Z'),
    ids: new SequentialIds(),
    logger,
  });
  return { enforcer, hot, archive, published, errors, grantCalls };
};

describe('PolicyEnforcer.decideMany', () => {
  it('decides each input, in order, and records them all with ONE log write and ONE archive hand-off', async () => {
    // Prepare
    const { enforcer, hot, archive } = setup();
    const inputs = [
      routeTo('exp-open'),
      routeTo('exp-secret', { classification: 'restricted' }),
      routeTo('exp-internal', { classification: 'internal' }),
      routeTo('exp-more'),
    ];

    // Act
    const decisions = await enforcer.decideMany(inputs);

    // Assess
    expect(decisions.map((d) => [d.allow, d.reasons])).toEqual([
      [true, ['operate-own-or-granted-tenant']],
      [false, ['restricted-experts-need-admin']],
      [true, ['operate-own-or-granted-tenant']],
      [true, ['operate-own-or-granted-tenant']],
    ]);
    expect(new Set(decisions.map((d) => d.decisionId)).size).toBe(4);
    expect(hot.calls).toHaveLength(1);
    expect(archive.calls).toHaveLength(1);
    expect(archive.calls[0]).toEqual(hot.calls[0]);
    expect(hot.calls[0]?.map((r) => [r.decisionId, r.allow, r.input.resource.id])).toEqual(
      decisions.map((d, i) => [d.decisionId, d.allow, inputs[i]?.resource.id]),
    );
    // The classification is part of the logged input (a dry-run decides it again with it).
    expect(hot.calls[0]?.[1]?.input.resource).toEqual({
      tenantId: 'acme',
      kind: 'experts',
      id: 'exp-secret',
      classification: 'restricted',
    });
    expect(hot.calls[0]?.[0]?.input.resource).not.toHaveProperty('classification');
    expect(hot.calls[0]?.every((r) => r.source === 'route' && r.traceId === 't-route-1')).toBe(true);
  });

  it('runs the log write and the archive hand-off concurrently', async () => {
    // Prepare: both writes wait on one gate; a sequential enforcer would only ever start the first
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const started: string[] = [];
    const waiting = (name: string) => async () => {
      started.push(name);
      await gate;
    };
    const { enforcer } = setup({ log: { record: waiting('log') }, archive: { append: waiting('archive') } });

    // Act
    const deciding = enforcer.decideMany([routeTo('a'), routeTo('b'), routeTo('c')]);
    await vi.waitFor(() => expect(started).toHaveLength(2));
    open();

    // Assess
    await expect(deciding).resolves.toHaveLength(3);
    expect(started.sort()).toEqual(['archive', 'log']);
  });

  it('answers nothing when the log write fails: 503 decision_not_recorded, no event', async () => {
    // Prepare
    const failingLog = store(new Error('DynamoDB is throttling'));
    const { enforcer, archive, published, errors } = setup({ log: failingLog.log });

    // Act
    const decided = enforcer.decideMany([
      routeTo('exp-open'),
      routeTo('exp-secret', { classification: 'restricted' }),
    ]);

    // Assess
    await expect(decided).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(decided).rejects.toMatchObject({
      statusCode: 503,
      code: 'decision_not_recorded',
      headers: { 'Retry-After': '1' },
    });
    expect(failingLog.calls).toHaveLength(1);
    expect(archive.calls).toHaveLength(1); // attempted alongside, not instead
    expect(published).toEqual([]); // the denial is not announced: it was never answered
    expect(errors).toHaveBeenCalledWith(
      'policy decision not recorded; refusing to answer',
      expect.objectContaining({ decisionIds: ['dec_000001', 'dec_000002'] }),
    );
  });

  it('answers nothing when the archive hand-off fails', async () => {
    // Prepare
    const { enforcer, hot } = setup({ archive: store(new Error('SQS is throttling')).archive });

    // Act
    const decided = enforcer.decideMany([routeTo('exp-open'), routeTo('exp-other')]);

    // Assess
    await expect(decided).rejects.toMatchObject({ statusCode: 503, code: 'decision_not_recorded' });
    expect(hot.calls).toHaveLength(1);
  });

  it('announces every denial, and only denials, as policy_denied events in one publish', async () => {
    // Prepare
    const { enforcer, published } = setup();

    // Act
    const decisions = await enforcer.decideMany([
      routeTo('exp-open'),
      routeTo('exp-secret', { classification: 'restricted' }),
      routeTo('exp-globex', { tenantId: 'globex' }),
    ]);

    // Assess
    expect(published).toHaveLength(1);
    expect(published[0]?.map((event) => [event.type, event.detail])).toEqual([
      [
        'policy_denied',
        expect.objectContaining({
          tenantId: 'acme',
          decisionId: decisions[1]?.decisionId,
          action: 'router:route-to',
          subject: 'u-acme-operator',
          resourceTenantId: 'acme',
          obligations: [],
        }),
      ],
      [
        'policy_denied',
        expect.objectContaining({
          tenantId: 'globex',
          decisionId: decisions[2]?.decisionId,
          resourceTenantId: 'globex',
          obligations: ['request_approval'],
        }),
      ],
    ]);
  });

  it('still answers when the denial events cannot be published (the failure is only logged)', async () => {
    // Prepare
    const { enforcer, hot, errors } = setup({
      publish: async () => {
        throw new Error('EventBridge is down');
      },
    });

    // Act
    const decisions = await enforcer.decideMany([routeTo('exp-secret', { classification: 'restricted' })]);

    // Assess
    expect(decisions.map((d) => d.allow)).toEqual([false]);
    expect(hot.calls).toHaveLength(1);
    expect(errors).toHaveBeenCalledWith('policy_denied event not published', expect.any(Error));
  });

  it('gives a cross-tenant input both tenants’ copies, as decide does, and looks up grants only for it', async () => {
    // Prepare
    const { enforcer, hot, grantCalls } = setup();

    // Act
    const [own, crossing] = await enforcer.decideMany([
      routeTo('exp-open'),
      routeTo('exp-globex', { tenantId: 'globex' }),
    ]);

    // Assess
    expect(crossing).toMatchObject({
      allow: false,
      obligations: ['request_approval'],
      reasons: ['cross-tenant-needs-approved-grant'],
    });
    expect(grantCalls).toEqual([['u-acme-operator', 'globex', '2026-03-01T10:00:00.000Z']]);
    expect(hot.calls).toHaveLength(1);
    expect(hot.calls[0]?.map((r) => [r.decisionId, r.tenantId])).toEqual([
      [own?.decisionId, 'acme'],
      [crossing?.decisionId, 'globex'],
      [crossing?.decisionId, 'acme'],
    ]);
    // The same records as decide writes for that input alone.
    const single = setup();
    await single.enforcer.decide(routeTo('exp-globex', { tenantId: 'globex' }));
    const strip = (records: readonly DecisionRecord[] | undefined) =>
      records?.map(({ decisionId: _id, latencyMs: _latency, ...rest }) => rest);
    expect(strip(single.hot.calls[0])).toEqual(strip(hot.calls[0]?.slice(1)));
  });

  it('opens a granted tenant as decide does, asking once per principal and tenant in a batch', async () => {
    // Prepare
    let lookups = 0;
    const { enforcer } = setup({
      grants: {
        grantedTenants: async (_principal, target) => {
          lookups += 1;
          return target === 'globex' ? ['globex'] : [];
        },
      },
    });

    // Act
    const decisions = await enforcer.decideMany([
      routeTo('exp-g1', { tenantId: 'globex' }),
      routeTo('exp-g2', { tenantId: 'globex' }),
      routeTo('exp-i1', { tenantId: 'initech' }),
    ]);

    // Assess
    expect(decisions.map((d) => d.allow)).toEqual([true, true, false]);
    expect(lookups).toBe(2);
  });

  it('fails closed on a grant lookup that fails: no grant, still decided and recorded', async () => {
    // Prepare
    const { enforcer, hot, errors } = setup({
      grants: {
        grantedTenants: async () => {
          throw new Error('grants unreadable');
        },
      },
    });

    // Act
    const decisions = await enforcer.decideMany([
      routeTo('exp-globex', { tenantId: 'globex' }),
      routeTo('a'),
    ]);

    // Assess
    expect(decisions.map((d) => d.allow)).toEqual([false, true]);
    expect(decisions[0]?.obligations).toEqual(['request_approval']);
    expect(hot.calls).toHaveLength(1);
    expect(errors).toHaveBeenCalledWith('grant lookup failed; treating as no grant', expect.any(Error));
  });

  it('decides, writes and announces nothing for no input', async () => {
    // Prepare
    const { enforcer, hot, archive, published } = setup();

    // Act + Assess
    await expect(enforcer.decideMany([])).resolves.toEqual([]);
    expect([hot.calls, archive.calls, published]).toEqual([[], [], []]);
  });

  it('is what decide runs: one input, one write of its records, the same answer', async () => {
    // Prepare
    const { enforcer, hot, archive, published } = setup();

    // Act
    const decision = await enforcer.decide(routeTo('exp-secret', { classification: 'restricted' }));

    // Assess
    expect(decision).toMatchObject({ allow: false, reasons: ['restricted-experts-need-admin'] });
    expect(hot.calls.map((records) => records.map((r) => r.decisionId))).toEqual([[decision.decisionId]]);
    expect(archive.calls).toEqual(hot.calls);
    expect(published.flat().map((event) => event.type)).toEqual(['policy_denied']);
  });
});

describe('decideMany for handlers: policyDecideMany and makeEnforcement', () => {
  const countingMetrics = () => {
    const metrics: Record<string, number> = {};
    let published = 0;
    return {
      metrics,
      published: () => published,
      sink: {
        addMetric: (name: string, _unit: 'Count', value: number) => {
          metrics[name] = (metrics[name] ?? 0) + value;
        },
        publishStoredMetrics: () => {
          published += 1;
        },
      },
    };
  };

  it('counts every decision of a batch in PolicyDecisions, PolicyDenied and PolicyCacheHits', async () => {
    // Prepare
    const engine = new CachedPolicyEngine(loadPolicyEngine());
    const { enforcer } = setup({ engine });
    const counted = countingMetrics();
    const decideMany = policyDecideMany(enforcer, { engine, metrics: counted.sink });

    // Act
    await decideMany([routeTo('exp-open'), routeTo('exp-secret', { classification: 'restricted' })]);
    await decideMany([
      routeTo('exp-open'),
      routeTo('exp-globex', { tenantId: 'globex' }),
      routeTo('exp-open'),
    ]);
    await decideMany([]);

    // Assess
    expect(counted.metrics).toEqual({ PolicyDecisions: 5, PolicyDenied: 2, PolicyCacheHits: 2 });
    expect(counted.published()).toBe(2);
  });

  it('counts a batch that could not be recorded as denied, and rethrows the 503', async () => {
    // Prepare
    const engine = new CachedPolicyEngine(loadPolicyEngine());
    const { enforcer } = setup({ engine, log: store(new Error('down')).log });
    const counted = countingMetrics();
    const decideMany = policyDecideMany(enforcer, { engine, metrics: counted.sink });

    // Act
    const decided = decideMany([routeTo('a'), routeTo('b'), routeTo('c')]);

    // Assess
    await expect(decided).rejects.toMatchObject({ statusCode: 503, code: 'decision_not_recorded' });
    expect(counted.metrics).toMatchObject({ PolicyDecisions: 3, PolicyDenied: 3 });
    expect(counted.published()).toBe(1);
  });

  it('is part of what makeEnforcement (and so makeHttpService) returns, writing the batch in one BatchWriteItem', async () => {
    // Prepare
    const sent: { name: string; input: unknown }[] = [];
    const doc = {
      send: async (command: { constructor: { name: string }; input: unknown }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        return {};
      },
    };
    const appended: (readonly DecisionRecord[])[] = [];
    const counted = countingMetrics();
    const enforcement = makeEnforcement({
      doc: doc as never,
      policyTableName: 'policy-table',
      logger: silentLogger(),
      archive: { append: async (records) => void appended.push(records) },
      engine: loadPolicyEngine(),
      metrics: counted.sink,
    });

    // Act
    const decisions = await enforcement.decideMany([
      routeTo('exp-open'),
      routeTo('exp-secret', { classification: 'restricted' }),
    ]);

    // Assess
    expect(decisions.map((d) => d.allow)).toEqual([true, false]);
    expect(sent.map((s) => s.name)).toEqual(['BatchWriteCommand']);
    expect(appended).toHaveLength(1);
    expect(appended[0]).toHaveLength(2);
    expect(counted.metrics).toEqual({ PolicyDecisions: 2, PolicyDenied: 1, PolicyCacheHits: 0 });
  });
});

describe('PolicyEnforcer.enforceDeferred: a route-level record that waits for the request’s batch', () => {
  const routeLevel = (principal: Principal = operator): EnforceInput => ({
    principal,
    action: 'router:route',
    resource: { tenantId: 'acme', kind: 'router' },
    traceId: 't-route-1',
  });

  it('decides an allow without writing, and decideMany then writes it with the batch in ONE write', async () => {
    // Prepare
    const { enforcer, hot, archive } = setup();

    // Act
    const { decision, pending } = await enforcer.enforceDeferred(routeLevel());
    const writesBefore = hot.calls.length;
    const answers = await enforcer.decideMany([routeTo('exp-open'), routeTo('exp-more')], {
      alsoRecord: pending,
    });

    // Assess
    expect(decision.allow).toBe(true);
    expect(writesBefore).toBe(0);
    expect(hot.calls).toHaveLength(1);
    expect(archive.calls).toHaveLength(1);
    expect(hot.calls[0]?.map((r) => r.decisionId)).toEqual([
      decision.decisionId,
      ...answers.map((a) => a.decisionId),
    ]);
    expect(hot.calls[0]?.[0]?.input.action).toBe('router:route');
  });

  it('writes a pending record alone with commit, and refuses to answer (503) when it cannot', async () => {
    // Prepare
    const { enforcer, hot } = setup();
    const failing = setup({ log: store(new Error('throttled')).log });

    // Act
    const { pending } = await enforcer.enforceDeferred(routeLevel());
    await enforcer.commit(pending);
    const { pending: lost } = await failing.enforcer.enforceDeferred(routeLevel());
    const refusal = failing.enforcer.commit(lost);

    // Assess
    expect(hot.calls).toHaveLength(1);
    expect(hot.calls[0]).toEqual(pending);
    await expect(refusal).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  it('records, announces and throws a deny at once (403): only allows wait', async () => {
    // Prepare
    const { enforcer, hot, published } = setup();
    const viewer: Principal = { subject: 'u-acme-viewer', tenantId: 'acme', roles: ['viewer'], amr: [] };

    // Act
    const attempt = enforcer.enforceDeferred(routeLevel(viewer));

    // Assess
    await expect(attempt).rejects.toMatchObject({ statusCode: 403, code: 'policy_denied' });
    expect(hot.calls).toHaveLength(1);
    expect(hot.calls[0]?.[0]).toMatchObject({ allow: false, input: { action: 'router:route' } });
    expect(published.flat().map((e) => e.type)).toEqual(['policy_denied']);
  });
});

describe('policyAuthorizer with a deferred route-level record', () => {
  const spec = { action: 'router:route', tag: 'router' } as never;

  it('carries the record into exactly one batch, even when batches run concurrently', async () => {
    // Prepare
    const { enforcer, hot } = setup();
    const authorize = policyAuthorizer(enforcer);
    const authorization = await authorize({
      principal: operator,
      spec,
      tenantId: 'acme',
      traceId: 't',
      defer: true,
    });

    // Act
    await Promise.all([
      authorization.deferred?.decideMany([routeTo('exp-a')]),
      authorization.deferred?.decideMany([routeTo('exp-b')]),
    ]);
    await authorization.deferred?.flush();

    // Assess
    const written = hot.calls.flat();
    expect(written.filter((r) => r.input.action === 'router:route')).toHaveLength(1);
    expect(written.filter((r) => r.input.action === 'router:route-to')).toHaveLength(2);
    expect(hot.calls).toHaveLength(2);
  });

  it('writes the record at flush when the batch that carried it failed', async () => {
    // Prepare: the log fails once, then works.
    let failures = 1;
    const writes: DecisionRecord[][] = [];
    const { enforcer } = setup({
      log: {
        record: async (records) => {
          if (failures-- > 0) throw new Error('throttled');
          writes.push([...records]);
        },
      },
    });
    const authorization = await policyAuthorizer(enforcer)({
      principal: operator,
      spec,
      tenantId: 'acme',
      traceId: 't',
      defer: true,
    });

    // Act
    const failed = authorization.deferred?.decideMany([routeTo('exp-a')]);
    await expect(failed).rejects.toBeInstanceOf(ServiceUnavailableError);
    await authorization.deferred?.flush();

    // Assess
    expect(writes).toHaveLength(1);
    expect(writes[0]?.map((r) => r.input.action)).toEqual(['router:route']);
  });

  it('does not defer without being asked to: the record is written before the authorizer returns', async () => {
    const { enforcer, hot } = setup();
    const authorization = await policyAuthorizer(enforcer)({
      principal: operator,
      spec,
      tenantId: 'acme',
      traceId: 't',
    });
    expect(authorization.deferred).toBeUndefined();
    expect(hot.calls).toHaveLength(1);
  });
});
