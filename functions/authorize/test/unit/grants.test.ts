import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppError } from '#shared/errors.js';
import { type Grant, grantIsLive } from '#shared/ports/grants.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  type GrantActor,
  GrantService,
  MAX_PENDING_GRANTS_PER_TENANT_PAIR,
  PENDING_GRANT_LAPSE_SECONDS,
} from '../../src/domain/grants.js';
import { InMemoryPendingGrantSlots } from '../pending-slots.js';

const START = '2026-01-01T00:00:00.000Z';
const requester: GrantActor = { subject: 'alice', tenantId: 'acme' };
const approver: GrantActor = { subject: 'gina', tenantId: 'globex' };
const secondApprover: GrantActor = { subject: 'gus', tenantId: 'globex' };
const input = { reason: 'incident INC-42', durationMinutes: 30 };
const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

const setup = (maxPendingPerTenantPair?: number) => {
  const repository = new InMemoryTenantRecords<Grant>('GRANT');
  const pending = new InMemoryPendingGrantSlots();
  const clock = new ManualClock(START);
  const service = new GrantService({
    repository,
    pending,
    clock,
    ids: new SequentialIds(),
    ...(maxPendingPerTenantPair === undefined ? {} : { maxPendingPerTenantPair }),
  });
  return { service, repository, pending, clock };
};

describe('GrantService', () => {
  describe('request', () => {
    it('files a pending grant in the target tenant’s partition that lapses after a day', async () => {
      // Prepare
      const { service, repository } = setup();

      // Act
      const grant = await service.request('globex', requester, input);

      // Assess
      expect(grant).toEqual({
        tenantId: 'globex',
        id: 'grt_000001',
        version: 1,
        createdAt: START,
        updatedAt: START,
        requesterSubject: 'alice',
        requesterTenant: 'acme',
        reason: 'incident INC-42',
        durationMinutes: 30,
        status: 'pending',
        expiresAt: epoch(START) + PENDING_GRANT_LAPSE_SECONDS,
      });
      expect(await repository.get('globex', grant.id)).toEqual(grant);
    });

    it('refuses a request for the requester’s own tenant and stores nothing', async () => {
      // Prepare
      const { service, repository } = setup();

      // Act
      const error = await refusal(service.request('acme', requester, input));

      // Assess
      expect(error.statusCode).toBe(400);
      expect(error.code).toBe('grant_target_required');
      expect(repository.all()).toEqual([]);
    });
  });

  describe('approve', () => {
    it('opens the grant from the approval for its duration, by someone of the target tenant', async () => {
      // Prepare
      const { service, clock } = setup();
      const pending = await service.request('globex', requester, input);
      clock.advance(10 * 60_000);

      // Act
      const approved = await service.approve('globex', pending.id, approver);

      // Assess
      expect(approved).toMatchObject({
        status: 'approved',
        approvedBy: 'gina',
        approvedAt: '2026-01-01T00:10:00.000Z',
        updatedAt: '2026-01-01T00:10:00.000Z',
        version: 2,
        expiresAt: epoch('2026-01-01T00:10:00.000Z') + 30 * 60,
      });
      expect(await service.get('globex', pending.id)).toEqual(approved);
    });

    it('approves only once', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);
      await service.approve('globex', pending.id, approver);

      // Act
      const error = await refusal(service.approve('globex', pending.id, secondApprover));

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('grant_not_pending');
    });

    it('lets exactly one of two concurrent approvers win', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);

      // Act
      const outcomes = await Promise.allSettled([
        service.approve('globex', pending.id, approver),
        service.approve('globex', pending.id, secondApprover),
      ]);

      // Assess
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as AppError).code).toBe('version_conflict');
      expect((await service.get('globex', pending.id)).version).toBe(2);
    });

    it('refuses the requester as approver, even from an account in the target tenant', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);

      // Act
      const error = await refusal(
        service.approve('globex', pending.id, { subject: 'alice', tenantId: 'globex' }),
      );

      // Assess
      expect(error.statusCode).toBe(403);
      expect(error.code).toBe('approver_is_requester');
      expect((await service.get('globex', pending.id)).status).toBe('pending');
    });

    it('refuses an approver of another tenant (someone a grant let in cannot open the tenant further)', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);

      // Act
      const error = await refusal(
        service.approve('globex', pending.id, { subject: 'bob', tenantId: 'acme' }),
      );

      // Assess
      expect(error.statusCode).toBe(403);
      expect(error.code).toBe('approver_not_of_tenant');
    });

    it('refuses a request that lapsed unapproved after a day, and approves one a second before', async () => {
      // Prepare
      const { service, clock } = setup();
      const early = await service.request('globex', requester, input);
      const late = await service.request('globex', requester, input);
      clock.advance(PENDING_GRANT_LAPSE_SECONDS * 1000 - 1000);

      // Act
      const approved = await service.approve('globex', early.id, approver);
      clock.advance(1000);
      const error = await refusal(service.approve('globex', late.id, approver));

      // Assess
      expect(approved.status).toBe('approved');
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('grant_lapsed');
    });

    it('answers 404 for a grant of another tenant, as for a missing one', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);

      // Act
      const foreign = await refusal(
        service.approve('initech', pending.id, { subject: 'ian', tenantId: 'initech' }),
      );
      const missing = await refusal(service.approve('globex', 'grt_missing', approver));

      // Assess
      expect([foreign.statusCode, foreign.code]).toEqual([404, 'grant_not_found']);
      expect([missing.statusCode, missing.code]).toEqual([404, 'grant_not_found']);
    });
  });

  describe('expiry', () => {
    it('keeps an approved grant live until approval plus its duration, and not a second longer', async () => {
      // Prepare
      const { service, clock } = setup();
      const pending = await service.request('globex', requester, { ...input, durationMinutes: 5 });
      const approved = await service.approve('globex', pending.id, approver);
      const live = () => grantIsLive(approved, 'alice', 'acme', clock.now());

      // Act
      const atStart = live();
      clock.advance(5 * 60_000 - 1);
      const lastMoment = live();
      clock.advance(1);
      const atEnd = live();

      // Assess
      expect([atStart, lastMoment, atEnd]).toEqual([true, true, false]);
    });

    it('is live exactly while less than durationMinutes have passed since approval (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 5, max: 1440 }),
          fc.integer({ min: 0, max: 2 * 1440 * 60_000 }),
          async (durationMinutes, elapsedMs) => {
            const { service, clock } = setup();
            const pending = await service.request('globex', requester, { ...input, durationMinutes });
            const approved = await service.approve('globex', pending.id, approver);
            clock.advance(elapsedMs);
            expect(grantIsLive(approved, 'alice', 'acme', clock.now())).toBe(
              elapsedMs < durationMinutes * 60_000,
            );
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('revoke', () => {
    it('revokes an approved grant, closing it at once', async () => {
      // Prepare
      const { service, clock } = setup();
      const pending = await service.request('globex', requester, input);
      await service.approve('globex', pending.id, approver);
      clock.advance(60_000);

      // Act
      const revoked = await service.revoke('globex', pending.id, secondApprover);

      // Assess
      expect(revoked).toMatchObject({
        status: 'revoked',
        revokedBy: 'gus',
        revokedAt: '2026-01-01T00:01:00.000Z',
        version: 3,
      });
      expect(grantIsLive(revoked, 'alice', 'acme', clock.now())).toBe(false);
    });

    it('is idempotent: revoking again answers the revoked grant unchanged', async () => {
      // Prepare
      const { service, clock } = setup();
      const pending = await service.request('globex', requester, input);
      const first = await service.revoke('globex', pending.id, approver);
      clock.advance(60_000);

      // Act
      const second = await service.revoke('globex', pending.id, secondApprover);

      // Assess
      expect(second).toEqual(first);
    });

    it('leaves a revoked request unapprovable', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);
      await service.revoke('globex', pending.id, approver);

      // Act
      const error = await refusal(service.approve('globex', pending.id, secondApprover));

      // Assess
      expect(error.code).toBe('grant_not_pending');
    });

    it('lets the requester give access back, and answers other outsiders as for a missing grant', async () => {
      // Prepare
      const { service } = setup();
      const one = await service.request('globex', requester, input);
      const two = await service.request('globex', requester, input);
      await service.approve('globex', one.id, approver);

      // Act
      const byRequester = await service.revoke('globex', one.id, requester);
      const error = await refusal(service.revoke('globex', two.id, { subject: 'bob', tenantId: 'acme' }));
      const missing = await refusal(service.get('globex', 'grt_999999'));

      // Assess
      expect(byRequester).toMatchObject({ status: 'revoked', revokedBy: 'alice' });
      expect([error.statusCode, error.code]).toEqual([404, 'grant_not_found']);
      expect(error.message).toBe(missing.message.replace('grt_999999', two.id));
      expect((await service.get('globex', two.id)).status).toBe('pending');
    });

    it('lets the requester withdraw its own pending request, and not a colleague’s', async () => {
      // Prepare
      const { service, clock } = setup();
      const own = await service.request('globex', requester, input);
      const colleagues = await service.request('globex', { subject: 'bob', tenantId: 'acme' }, input);
      clock.advance(60_000);

      // Act
      const withdrawn = await service.revoke('globex', own.id, requester);
      const error = await refusal(service.revoke('globex', colleagues.id, requester));

      // Assess
      expect(withdrawn).toMatchObject({
        status: 'revoked',
        revokedBy: 'alice',
        revokedAt: '2026-01-01T00:01:00.000Z',
        version: 2,
      });
      expect([error.statusCode, error.code]).toEqual([404, 'grant_not_found']);
      expect((await service.get('globex', colleagues.id)).status).toBe('pending');
    });

    it('never loses to a concurrent approval: the grant ends revoked', async () => {
      // Prepare
      const { service } = setup();
      const pending = await service.request('globex', requester, input);

      // Act
      await Promise.allSettled([
        service.approve('globex', pending.id, approver),
        service.revoke('globex', pending.id, secondApprover),
      ]);

      // Assess
      expect((await service.get('globex', pending.id)).status).toBe('revoked');
    });
  });

  describe('the cap on pending requests', () => {
    const fill = async (service: GrantService, count: number, from = requester, target = 'globex') => {
      const filed: Grant[] = [];
      for (let n = 0; n < count; n += 1) filed.push(await service.request(target, from, input));
      return filed;
    };

    it(`files ${MAX_PENDING_GRANTS_PER_TENANT_PAIR} pending requests of one tenant to another, and refuses the next with 409, storing nothing`, async () => {
      // Prepare
      const { service, repository } = setup();
      await fill(service, MAX_PENDING_GRANTS_PER_TENANT_PAIR - 1);
      await service.request('globex', { subject: 'bob', tenantId: 'acme' }, input);

      // Act
      const error = await refusal(service.request('globex', { subject: 'carol', tenantId: 'acme' }, input));

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'too_many_pending_grants']);
      expect(error.message).toContain(`${MAX_PENDING_GRANTS_PER_TENANT_PAIR} pending`);
      expect(repository.all()).toHaveLength(MAX_PENDING_GRANTS_PER_TENANT_PAIR);
    });

    it('counts each requester tenant and each target tenant apart', async () => {
      // Prepare
      const { service } = setup(2);
      await fill(service, 2);

      // Act
      const fromInitech = await service.request('globex', { subject: 'ivan', tenantId: 'initech' }, input);
      const intoInitech = await service.request('initech', requester, input);

      // Assess
      expect([fromInitech.status, intoInitech.status]).toEqual(['pending', 'pending']);
    });

    it('frees a place when the target approves or turns down a request, or when it lapses', async () => {
      // Prepare
      const { service, clock } = setup(3);
      const [approved, turnedDown] = await fill(service, 3);
      const refusedWhileFull = await refusal(service.request('globex', requester, input));

      // Act + Assess: each answer of the target makes room for exactly one more request
      await service.approve('globex', approved?.id ?? '', approver);
      await service.request('globex', requester, input);
      await service.revoke('globex', turnedDown?.id ?? '', approver);
      await service.request('globex', requester, input);
      expect(refusedWhileFull.code).toBe('too_many_pending_grants');
      expect((await refusal(service.request('globex', requester, input))).code).toBe(
        'too_many_pending_grants',
      );

      clock.advance(PENDING_GRANT_LAPSE_SECONDS * 1000);
      const afterLapse = await fill(service, 3);
      expect(afterLapse.map((g) => g.status)).toEqual(['pending', 'pending', 'pending']);
    });

    it('keeps the place of a withdrawn request until it would have lapsed (no withdraw-and-ask-again flood)', async () => {
      // Prepare
      const { service, clock } = setup(2);
      const [withdrawn] = await fill(service, 2);

      // Act
      await service.revoke('globex', withdrawn?.id ?? '', requester);
      const rightAfter = await refusal(service.request('globex', requester, input));
      clock.advance(PENDING_GRANT_LAPSE_SECONDS * 1000 - 1000);
      const aSecondBeforeLapse = await refusal(service.request('globex', requester, input));
      clock.advance(1000);
      const atLapse = await service.request('globex', requester, input);

      // Assess
      expect([rightAfter.code, aSecondBeforeLapse.code]).toEqual([
        'too_many_pending_grants',
        'too_many_pending_grants',
      ]);
      expect(atLapse.status).toBe('pending');
    });

    it('gives the place back when the request cannot be stored', async () => {
      // Prepare
      const { service, repository, pending } = setup(1);
      const failingCreate = repository.create.bind(repository);
      repository.create = async () => {
        throw new Error('table unavailable');
      };

      // Act
      await expect(service.request('globex', requester, input)).rejects.toThrow('table unavailable');
      repository.create = failingCreate;
      const next = await service.request('globex', requester, input);

      // Assess
      expect(next.status).toBe('pending');
      expect(pending.held('acme', 'globex')).toBe(1);
    });
  });

  it('lists the grants of one tenant only', async () => {
    // Prepare
    const { service } = setup();
    const intoGlobex = await service.request('globex', requester, input);
    await service.request('initech', requester, input);

    // Act
    const page = await service.list('globex', { limit: 10 });

    // Assess
    expect(page.items).toEqual([intoGlobex]);
  });
});
