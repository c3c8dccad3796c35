import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import type { Principal } from '#shared/ports/identity.js';
import type { AuthzRequest, DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryWormStore, testSubjectHasher } from '#shared/testing/fakes.js';
import { approveGrant, requestGrant, revokeGrant } from '../../../authorize/contract.js';
import { DecisionArchiver } from '../../../authorize/src/domain/archive.js';
import { invokeTask, routeTask } from '../../../router/contract.js';
import { enqueueJob } from '../../../scheduler/contract.js';
import {
  type BudgetReader,
  budgetsConfigured,
  CROSS_TENANT_REQUEST_ACTIONS,
  EVAL_GATE_DAYS,
  type EvalRunReader,
  evalGatesRun,
  GRANT_APPROVE_ACTION,
  grantsReviewed,
  JOB_SUBMIT_ACTIONS,
  ROUTE_ACTIONS,
} from '../../src/domain/activity-checks.js';
import { ARCHIVE_LAG_MINUTES, MAX_ARCHIVE_OBJECTS, MAX_TENANTS } from '../../src/domain/decision-checks.js';
import { archiveObject } from '../support/decision-archive.js';

const now = new Date('2026-12-07T06:00:00.000Z');
const MINUTE = 60_000;
/** An instant `minutes` before the run. */
const ago = (minutes: number): string => new Date(now.getTime() - minutes * MINUTE).toISOString();

let ids = 0;
/** A decision as the enforcer records it: `alice` of `tenantId` on a resource of `resourceTenant`. */
const decision = (
  tenantId: string,
  action: string,
  options: {
    readonly at?: string;
    readonly resourceTenant?: string;
    readonly grantedTenants?: readonly string[];
    readonly overrides?: Partial<DecisionRecord>;
  } = {},
): DecisionRecord => {
  ids += 1;
  const resourceTenant = options.resourceTenant ?? tenantId;
  const input: AuthzRequest = {
    principal: { subject: 'alice', tenantId, roles: ['admin'] },
    action,
    resource: { tenantId: resourceTenant, kind: action.split(':')[0] ?? 'x' },
    context: { mfa: true, grantedTenants: options.grantedTenants ?? [] },
  };
  return {
    decisionId: `dec_${ids}`,
    tenantId: resourceTenant,
    at: options.at ?? ago(120),
    traceId: `trace-${ids}`,
    engine: 'cedar',
    policyVersion: 'cedar-2026-12-01',
    input,
    allow: true,
    obligations: [],
    masks: [],
    reasons: ['test'],
    latencyMs: 0.4,
    source: 'route',
    ...options.overrides,
  };
};

/** Both tenants' copies of a cross-tenant decision, as the enforcer commits them. */
const copiesOf = (record: DecisionRecord): DecisionRecord[] => [
  record,
  { ...record, tenantId: record.input.principal.tenantId },
];

/** Budgets in memory: the tenants that have one; remembers who was asked. */
class InMemoryBudgets implements BudgetReader {
  readonly asked: string[] = [];
  constructor(private readonly tenants: readonly string[]) {}
  async hasBudget(tenantId: string): Promise<boolean> {
    this.asked.push(tenantId);
    return this.tenants.includes(tenantId);
  }
}

/** Eval runs in memory: completed runs' finish instants by tenant; `undefined` answers for `unknown`. */
class InMemoryRuns implements EvalRunReader {
  readonly asked: { tenantId: string; since: string }[] = [];
  constructor(
    private readonly finished: Readonly<Record<string, readonly string[]>>,
    private readonly unknown: readonly string[] = [],
  ) {}
  async completedRunSince(tenantId: string, since: string): Promise<boolean | undefined> {
    this.asked.push({ tenantId, since });
    if (this.unknown.includes(tenantId)) return undefined;
    return (this.finished[tenantId] ?? []).some((at) => at >= since);
  }
}

/** More archive objects than a run reads, within less than a batch span: nothing can be read. */
const overBoundsArchive = async (): Promise<InMemoryWormStore> => {
  const archive = new InMemoryWormStore();
  const start = now.getTime() - 300 * MINUTE;
  for (let i = 0; i < MAX_ARCHIVE_OBJECTS + 100; i += 1)
    await archiveObject(archive, [
      decision('acme', 'scheduler:enqueue', { at: new Date(start + i * 100).toISOString() }),
    ]);
  return archive;
};

describe('platform.budgets-configured', () => {
  it('passes when every tenant that submitted a job has a budget, asking only those tenants', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [
      decision('acme', 'scheduler:enqueue'),
      decision('acme', 'scheduler:enqueue'),
      // Not job submissions: a denied one, a question asked through the API, another action.
      decision('globex', 'scheduler:enqueue', { overrides: { allow: false } }),
      decision('initech', 'scheduler:enqueue', { overrides: { source: 'api' } }),
      decision('umbrella', 'scheduler:jobs:list'),
      // Before the window: another day's run checks it.
      decision('hooli', 'scheduler:enqueue', { at: ago(24 * 60 + ARCHIVE_LAG_MINUTES + 1) }),
    ]);
    const budgets = new InMemoryBudgets(['acme']);

    // Act
    const outcome = await budgetsConfigured({ archive, budgets }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(budgets.asked).toEqual(['acme']);
    expect(outcome.summary).toContain('all 1 tenants checked that submitted jobs have a budget');
    expect(outcome.summary).toContain("24 h of the archive, not the control's 30 days");
    expect(outcome.observations).toMatchObject({
      activeTenants: 1,
      tenantsWith: ['acme'],
      tenantsWithout: [],
    });
  });

  it('fails naming the tenants that submitted jobs without a budget', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [
      decision('acme', 'scheduler:enqueue'),
      decision('globex', 'scheduler:enqueue'),
      decision('initech', 'scheduler:enqueue'),
    ]);
    const budgets = new InMemoryBudgets(['globex']);

    // Act
    const outcome = await budgetsConfigured({ archive, budgets }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('2 of 3 tenants that submitted jobs have no budget (acme, initech)');
    expect(outcome.observations).toMatchObject({ tenantsWithout: ['acme', 'initech'] });
  });

  it('checks the tenant a cross-tenant submission queued the job in, once for both copies', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    const submitted = decision('acme', 'scheduler:enqueue', {
      resourceTenant: 'globex',
      grantedTenants: ['globex'],
    });
    await archiveObject(archive, copiesOf(submitted));
    const budgets = new InMemoryBudgets(['acme']);

    // Act
    const outcome = await budgetsConfigured({ archive, budgets }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(budgets.asked).toEqual(['globex']);
    expect(outcome.summary).toContain('(globex)');
  });

  it('passes saying so when no tenant submitted a job in the window', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [decision('acme', 'experts:get')]);

    // Act
    const outcome = await budgetsConfigured({ archive, budgets: new InMemoryBudgets([]) }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('no tenant submitted jobs');
    expect(outcome.summary).toContain("not the control's 30 days");
  });

  it('asks at most MAX_TENANTS tenants a run and names how many more it left', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    const tenants = Array.from({ length: MAX_TENANTS + 3 }, (_, i) => `t-${String(i).padStart(4, '0')}`);
    await archiveObject(
      archive,
      tenants.map((tenant) => decision(tenant, 'scheduler:enqueue')),
    );
    const budgets = new InMemoryBudgets(tenants.slice(1));

    // Act
    const outcome = await budgetsConfigured({ archive, budgets }).run({ now });

    // Assess
    expect(budgets.asked).toHaveLength(MAX_TENANTS);
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('(t-0000)');
    expect(outcome.summary).toContain(`3 more tenants (${MAX_TENANTS} a run)`);
    expect(outcome.observations).toMatchObject({ tenantsNotAsked: tenants.slice(MAX_TENANTS) });
  });

  it('is an error, not a pass, when the bounds leave no part of the window to read', async () => {
    // Prepare
    const archive = await overBoundsArchive();

    // Act
    const outcome = await budgetsConfigured({
      archive,
      budgets: new InMemoryBudgets([]),
      random: () => 0.5,
    }).run({ now });

    // Assess
    expect(outcome.status).toBe('error');
    expect(outcome.summary).toContain('no part of');
  });
});

describe('platform.eval-gates-run', () => {
  it('passes when every tenant that routed has a run completed in the last 30 days', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [
      decision('acme', 'router:route'),
      decision('globex', 'router:invoke'),
      decision('initech', 'experts:list'),
    ]);
    const runs = new InMemoryRuns({ acme: [ago(29 * 24 * 60)], globex: [ago(60)] });

    // Act
    const outcome = await evalGatesRun({ archive, runs }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('all 2 tenants checked that routed have a completed eval run');
    expect(runs.asked).toEqual([
      { tenantId: 'acme', since: ago(EVAL_GATE_DAYS * 24 * 60) },
      { tenantId: 'globex', since: ago(EVAL_GATE_DAYS * 24 * 60) },
    ]);
  });

  it('fails naming the tenants that routed without a gate run in the last 30 days', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [
      decision('acme', 'router:route'),
      decision('globex', 'router:route'),
      decision('initech', 'router:invoke'),
    ]);
    const runs = new InMemoryRuns({ acme: [ago(60)], globex: [ago(31 * 24 * 60)] });

    // Act
    const outcome = await evalGatesRun({ archive, runs }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(
      '2 of 3 tenants that routed have no completed eval run (globex, initech)',
    );
  });

  it('names the tenants the reader could not decide, and is an error when it decided none', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [decision('acme', 'router:route'), decision('globex', 'router:route')]);

    // Act
    const some = await evalGatesRun({ archive, runs: new InMemoryRuns({ acme: [ago(60)] }, ['globex']) }).run(
      {
        now,
      },
    );
    const none = await evalGatesRun({ archive, runs: new InMemoryRuns({}, ['acme', 'globex']) }).run({ now });

    // Assess
    expect(some.status).toBe('pass');
    expect(some.summary).toContain("1 tenants the reader's bound left undetermined (globex)");
    expect(none.status).toBe('error');
    expect(none.summary).toContain('2 tenants routed, none could be checked');
  });

  it('passes saying so when no tenant routed in the window', async () => {
    // Prepare
    const archive = new InMemoryWormStore();

    // Act
    const outcome = await evalGatesRun({ archive, runs: new InMemoryRuns({}) }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('no tenant routed');
  });
});

describe('platform.grants-reviewed', () => {
  it('passes when every cross-tenant access was under a grant of the tenant and every approval its own', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [
      ...copiesOf(decision('acme', 'experts:get', { resourceTenant: 'globex', grantedTenants: ['globex'] })),
      ...copiesOf(decision('acme', 'policy:grants:request', { resourceTenant: 'globex' })),
      ...copiesOf(
        decision('acme', 'experts:get', { resourceTenant: 'initech', overrides: { allow: false } }),
      ),
      decision('globex', 'policy:grants:approve'),
      decision('globex', 'experts:get'),
    ]);

    // Act
    const outcome = await grantsReviewed({ archive }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain(
      'all 1 cross-tenant accesses allowed under a live grant of the tenant (1 grant requests or withdrawals, which need none; 1 denied); all 1 approvals',
    );
    expect(outcome.observations).toMatchObject({
      crossTenant: { allowed: 2, denied: 1 },
      underGrant: 1,
      approvals: 1,
      withoutGrant: { count: 0 },
    });
  });

  it('fails naming cross-tenant decisions allowed without that tenant among the granted ones', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    const noGrant = decision('acme', 'experts:get', { resourceTenant: 'globex' });
    const otherGrant = decision('acme', 'experts:update', {
      resourceTenant: 'globex',
      grantedTenants: ['initech'],
    });
    const noContext = decision('acme', 'experts:list', {
      resourceTenant: 'globex',
      overrides: { input: { ...noGrant.input, action: 'experts:list', context: {} as never } },
    });
    await archiveObject(archive, [...copiesOf(noGrant), ...copiesOf(otherGrant), noContext]);

    // Act
    const outcome = await grantsReviewed({ archive }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(
      `3 cross-tenant decisions allowed without a live grant of the tenant on record (${noGrant.decisionId} (experts:get, acme in globex), ${otherGrant.decisionId} (experts:update, acme in globex), ${noContext.decisionId} (experts:list, acme in globex))`,
    );
    expect(outcome.observations).toMatchObject({ withoutGrant: { count: 3 } });
  });

  it('fails naming grant approvals allowed to a principal of another tenant', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    const foreign = decision('acme', 'policy:grants:approve', {
      resourceTenant: 'globex',
      grantedTenants: ['globex'],
    });
    await archiveObject(archive, [...copiesOf(foreign), decision('globex', 'policy:grants:approve')]);

    // Act
    const outcome = await grantsReviewed({ archive }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(
      `1 grant approvals allowed to a principal of another tenant (${foreign.decisionId} (policy:grants:approve, acme in globex))`,
    );
    expect(outcome.summary).not.toContain('without a live grant');
  });

  it('passes saying so when the archive holds no cross-tenant decision', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    await archiveObject(archive, [decision('acme', 'experts:get'), decision('globex', 'router:route')]);

    // Act
    const outcome = await grantsReviewed({ archive }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('no cross-tenant decision nor grant approval in the archive');
    expect(outcome.observations).toMatchObject({ decisionsRead: 2 });
  });

  it('counts the records it cannot read as not checked, rather than passing them', async () => {
    // Prepare
    const archive = new InMemoryWormStore();
    const bare = decision('acme', 'experts:get', { resourceTenant: 'globex' });
    const { input: _input, ...withoutInput } = bare;
    await archiveObject(archive, [withoutInput, 'not a record']);

    // Act
    const outcome = await grantsReviewed({ archive }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('not checked: 1 archived records without allow, action or tenants');
    expect(outcome.observations).toMatchObject({
      notChecked: { incompleteRecords: { count: 1 }, unreadableLines: 1 },
    });
  });

  it('is an error, not a pass, when the bounds leave no part of the window to read', async () => {
    // Prepare
    const archive = await overBoundsArchive();

    // Act
    const outcome = await grantsReviewed({ archive, random: () => 0.5 }).run({ now });

    // Assess
    expect(outcome.status).toBe('error');
  });
});

/**
 * What the checks rely on, pinned against the code that writes or names it (a test may reach into
 * another pillar; the checks themselves only restate it).
 */
describe('the decisions as the routes name and the enforcer records them', () => {
  it('names the routes’ actions, and the cross-tenant-request group of the Cedar schema', () => {
    const schema = readFileSync(
      new URL('../../../../policies/cedar/schema.cedarschema', import.meta.url),
      'utf8',
    );
    const grouped = [...schema.matchAll(/action\s+((?:"[^"]+"\s*,?\s*)+)in\s*\[([^\]]*)\]/g)]
      .filter(([, , groups]) => groups?.includes('"cross-tenant-request"'))
      .flatMap(([, names]) => [...(names ?? '').matchAll(/"([^"]+)"/g)].map(([, name]) => name));
    expect(JOB_SUBMIT_ACTIONS).toEqual([enqueueJob.action]);
    expect(ROUTE_ACTIONS).toEqual([routeTask.action, invokeTask.action]);
    expect(GRANT_APPROVE_ACTION).toBe(approveGrant.action);
    expect([...CROSS_TENANT_REQUEST_ACTIONS].sort()).toEqual([...grouped].sort());
    expect([...grouped].sort()).toEqual([requestGrant.action, revokeGrant.action].sort());
  });

  it('passes grants-reviewed on what the enforcer and archiver wrote, and fails it when no grant was looked up', async () => {
    // Prepare: an engine that allows everything, so only the record tells a grant from none.
    const principal: Principal = { subject: 'alice', tenantId: 'acme', roles: ['admin'], amr: [] };
    const run = async (granted: string[]) => {
      const messages: { messageId: string; body: string }[] = [];
      const enforcer = new PolicyEnforcer({
        engine: {
          name: 'cedar',
          policyVersion: 'cedar-format',
          decide: () => ({
            allow: true,
            obligations: [],
            masks: [],
            reasons: ['format-test'],
            policyVersion: 'cedar-format',
          }),
        },
        grants: { grantedTenants: async () => granted },
        log: { record: async () => undefined },
        archive: {
          append: async (records) =>
            void messages.push({ messageId: `msg-${messages.length}`, body: JSON.stringify(records) }),
        },
        clock: new ManualClock(ago(120)),
        ids: new SequentialIds(),
      });
      await enforcer.decide({
        principal,
        action: 'experts:get',
        resource: { tenantId: 'globex', kind: 'experts' },
        traceId: 'trace-1',
      });
      const archive = new InMemoryWormStore();
      await new DecisionArchiver(archive, testSubjectHasher).archive(messages);
      return grantsReviewed({ archive }).run({ now });
    };

    // Act
    const withGrant = await run(['globex']);
    const withoutGrant = await run([]);

    // Assess
    expect(withGrant.status).toBe('pass');
    expect(withGrant.observations).toMatchObject({ underGrant: 1, crossTenant: { allowed: 1 } });
    expect(withoutGrant.status).toBe('fail');
    expect(withoutGrant.summary).toContain('1 cross-tenant decisions allowed without a live grant');
  });
});
