import { describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { ConductorEvent } from '#shared/ports/events.js';
import type { Principal } from '#shared/ports/identity.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { declaredActions } from '../../src/adapters/cedar-candidates.js';
import { type Asker, type AuthorizeQuestion, AuthorizeService } from '../../src/domain/authorize.js';

/**
 * Where a decision asked through POST /policy/authorize is kept: the real Cedar policies and the
 * real enforcer, with the hot log, the archive hand-off and the event bus recorded. The body names
 * the subject and the resource, so only the tenant the asker acts in may receive the record; the
 * resource's tenant (globex, below) never does.
 */
const sources = readPolicySources(defaultPolicyDir());

const setup = () => {
  const logged: DecisionRecord[] = [];
  const archived: DecisionRecord[] = [];
  const published: ConductorEvent[] = [];
  const enforcer = new PolicyEnforcer({
    engine: new CedarPolicyEngine(sources),
    grants: { grantedTenants: async () => [] },
    log: { record: async (records) => void logged.push(...records) },
    archive: { append: async (records) => void archived.push(...records) },
    events: { publish: async (events) => void published.push(...events) },
    clock: new ManualClock('2026-01-01T00:00:00.000Z'),
    ids: new SequentialIds(),
  });
  const service = new AuthorizeService({
    decide: ({ inputs, recordIn }) => enforcer.decideMany(inputs, { recordIn }),
    declaredActions: new Set(declaredActions(sources.schema)),
  });
  return { enforcer, service, logged, archived, published };
};

const operatorOf = (tenantId: string): Principal => ({
  subject: `svc-${tenantId}`,
  tenantId,
  roles: ['operator'],
  amr: [],
});
const acmeOperator: Asker = { principal: operatorOf('acme'), tenantId: 'acme', traceId: 'trace-log' };

const aboutGlobex = (n: number): AuthorizeQuestion => ({
  subject: { id: `forged-${n}`, tenantId: 'acme', roles: ['tenant-admin'] },
  action: 'experts:get',
  resource: { tenantId: 'globex', kind: 'experts', id: `exp_${n}` },
  context: { mfa: true },
});

const tenantsOf = (records: readonly { tenantId: string }[]) => [...new Set(records.map((r) => r.tenantId))];

describe('the decision log of decisions asked through the API', () => {
  it('keeps a batch about another tenant’s resources in the asker’s log, archive and events only', async () => {
    // Prepare
    const { service, logged, archived, published } = setup();
    const questions = Array.from({ length: 30 }, (_, n) => aboutGlobex(n));

    // Act
    const answers = await service.authorizeBatch(acmeOperator, questions);

    // Assess: every question is denied (no grant), and each answer is on record once, in acme
    expect(answers.map((a) => a.allow)).toEqual(questions.map(() => false));
    expect(logged.map((r) => r.decisionId)).toEqual(answers.map((a) => a.decisionId));
    expect(tenantsOf(logged)).toEqual(['acme']);
    expect(archived).toEqual(logged);
    expect(published.map((e) => e.detail.tenantId)).toEqual(questions.map(() => 'acme'));
    expect(published.map((e) => e.detail.resourceTenantId)).toEqual(questions.map(() => 'globex'));
    // The record still says what was asked: the resource is globex's.
    expect(logged[0]?.input.resource).toEqual({ tenantId: 'globex', kind: 'experts', id: 'exp_0' });
    expect(logged[0]?.source).toBe('api');
  });

  it('keeps a question asked while acting in a granted tenant in that tenant’s log', async () => {
    // Prepare: acme's operator acts in globex (the route's policy let it in with a grant)
    const { service, logged } = setup();
    const actingInGlobex: Asker = { ...acmeOperator, tenantId: 'globex' };

    // Act
    await service.authorize(actingInGlobex, {
      subject: { id: 'gina', tenantId: 'globex', roles: ['viewer'] },
      action: 'experts:list',
      resource: { tenantId: 'globex', kind: 'experts' },
      context: { mfa: false },
    });

    // Assess
    expect(tenantsOf(logged)).toEqual(['globex']);
  });

  it('still logs a route’s cross-tenant attempt in both tenants’ logs (enforcement, not the API)', async () => {
    // Prepare
    const { enforcer, logged, published } = setup();

    // Act
    const decision = await enforcer.decide({
      principal: operatorOf('acme'),
      action: 'experts:list',
      resource: { tenantId: 'globex', kind: 'experts' },
      traceId: 'trace-route',
    });

    // Assess
    expect(decision.allow).toBe(false);
    expect(logged.map((r) => r.tenantId)).toEqual(['globex', 'acme']);
    expect(published.map((e) => e.detail.tenantId)).toEqual(['globex']);
  });
});
