import { describe, expect, it } from 'vitest';
import { NoArchive } from '#shared/policy/archive.js';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { type Grant, grantIsLive } from '#shared/ports/grants.js';
import type { Principal } from '#shared/ports/identity.js';
import type { DecisionRecord, GrantLookup } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { declaredActions } from '../../src/adapters/cedar-candidates.js';
import { type Asker, AuthorizeService } from '../../src/domain/authorize.js';
import { GrantService } from '../../src/domain/grants.js';
import { InMemoryPendingGrantSlots } from '../pending-slots.js';

/**
 * The product's acceptance scenario at the domain level, with the real Cedar policies and a clock the
 * test moves: a tenant-admin of acme asking for a resource of globex is denied with request_approval;
 * after an approved grant it is allowed, until the grant expires.
 */
const sources = readPolicySources(defaultPolicyDir());

const setup = () => {
  const clock = new ManualClock('2026-01-01T00:00:00.000Z');
  const grantsTable = new InMemoryTenantRecords<Grant>('GRANT');
  const lookup: GrantLookup = {
    grantedTenants: async (principal, target, at) => {
      const { items } = await grantsTable.list(target, { limit: 1000 });
      return items.some((g) => grantIsLive(g, principal.subject, principal.tenantId, at)) ? [target] : [];
    },
  };
  const logged: DecisionRecord[] = [];
  const enforcer = new PolicyEnforcer({
    engine: new CedarPolicyEngine(sources),
    grants: lookup,
    log: { record: async (records) => void logged.push(...records) },
    archive: new NoArchive(),
    clock,
    ids: new SequentialIds(),
  });
  const decisions = new AuthorizeService({
    decide: ({ inputs, recordIn }) => enforcer.decideMany(inputs, { recordIn }),
    declaredActions: new Set(declaredActions(sources.schema)),
  });
  const grants = new GrantService({
    repository: grantsTable,
    pending: new InMemoryPendingGrantSlots(),
    clock,
    ids: new SequentialIds(),
  });
  return { clock, decisions, grants, logged };
};

const acmeService: Asker = {
  principal: { subject: 'svc-acme', tenantId: 'acme', roles: ['operator'], amr: [] } satisfies Principal,
  tenantId: 'acme',
  traceId: 'trace-acceptance',
};
const readGlobexExpert = {
  subject: { id: 'alice', tenantId: 'acme', roles: ['tenant-admin'] },
  action: 'experts:get',
  resource: { tenantId: 'globex', kind: 'experts', id: 'exp_1' },
  context: { mfa: true },
};

describe('acceptance: a tenant-admin of acme and a resource of globex', () => {
  it('is denied with request_approval, allowed once a grant is approved, and denied again when it expires', async () => {
    // Prepare
    const { clock, decisions, grants, logged } = setup();

    // Act + Assess: before any grant
    const before = await decisions.authorize(acmeService, readGlobexExpert);
    expect(before).toMatchObject({ allow: false, obligations: ['request_approval'] });

    // a 5-minute grant, approved by someone of globex
    const pending = await grants.request(
      'globex',
      { subject: 'alice', tenantId: 'acme' },
      {
        reason: 'incident',
        durationMinutes: 5,
      },
    );
    expect(await decisions.authorize(acmeService, readGlobexExpert)).toMatchObject({ allow: false });
    clock.advance(60_000);
    await grants.approve('globex', pending.id, { subject: 'gina', tenantId: 'globex' });

    const during = await decisions.authorize(acmeService, readGlobexExpert);
    expect(during).toMatchObject({ allow: true, obligations: [] });
    clock.advance(5 * 60_000 - 1);
    expect((await decisions.authorize(acmeService, readGlobexExpert)).allow).toBe(true);

    clock.advance(1);
    const expired = await decisions.authorize(acmeService, readGlobexExpert);
    expect(expired).toMatchObject({ allow: false, obligations: ['request_approval'] });

    // Every answer is on record once, in the asking service's tenant (acme), marked as asked through
    // the API: the body named globex's resource, which gives it no say over globex's log.
    const answers = logged.filter((r) => r.source === 'api');
    expect(answers.map((r) => r.tenantId)).toEqual(Array.from({ length: 5 }, () => 'acme'));
    expect(answers.map((r) => r.allow)).toEqual([false, false, true, true, false]);
  });

  it('never lets the grant of one acme subject open globex to another', async () => {
    // Prepare
    const { decisions, grants } = setup();
    const pending = await grants.request(
      'globex',
      { subject: 'alice', tenantId: 'acme' },
      {
        reason: 'incident',
        durationMinutes: 60,
      },
    );
    await grants.approve('globex', pending.id, { subject: 'gina', tenantId: 'globex' });

    // Act
    const bob = await decisions.authorize(acmeService, {
      ...readGlobexExpert,
      subject: { id: 'bob', tenantId: 'acme', roles: ['tenant-admin'] },
    });

    // Assess
    expect(bob).toMatchObject({ allow: false, obligations: ['request_approval'] });
  });
});
