import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { AppError, ConflictError, NotFoundError, UnprocessableError } from '#shared/errors.js';
import { type IdGenerator, ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  type EndpointPolicy,
  type Expert,
  type ExpertInput,
  ExpertService,
  isUnhealthy,
} from '../../src/domain/experts.js';

const allowEveryEndpoint: EndpointPolicy = () => ({ ok: true });

const input = (overrides: Partial<ExpertInput> = {}): ExpertInput => ({
  name: 'large-model',
  type: 'model',
  costPerCallUsd: 0.002,
  endpoint: 'https://models.example.com/v1/complete',
  metadata: { region: 'eu-west-1' },
  enabled: true,
  ...overrides,
});

const setup = (options: { endpointPolicy?: EndpointPolicy; ids?: IdGenerator } = {}) => {
  const repository = new InMemoryTenantRecords<Expert>('EXPERT');
  const clock = new ManualClock('2026-01-01T00:00:00.000Z');
  const service = new ExpertService({
    repository,
    endpointPolicy: options.endpointPolicy ?? allowEveryEndpoint,
    clock,
    ids: options.ids ?? new SequentialIds(),
  });
  return { service, repository, clock };
};

/** Client input with server-owned fields smuggled in, as a careless caller might pass it on. */
const smuggled = (overrides: Partial<ExpertInput> = {}): ExpertInput =>
  ({
    ...input(overrides),
    tenantId: 'globex',
    id: 'exp_chosen-by-client',
    version: 99,
    createdAt: '1999-01-01T00:00:00.000Z',
    updatedAt: '1999-01-01T00:00:00.000Z',
  }) as ExpertInput;

describe('ExpertService', () => {
  describe('create', () => {
    it('sets the server-owned fields itself: tenant, id, version 1 and both timestamps', async () => {
      // Prepare
      const { service } = setup();

      // Act
      const expert = await service.create('acme', input());

      // Assess
      expect(expert).toEqual({
        ...input(),
        tenantId: 'acme',
        id: 'exp_000001',
        version: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      });
    });

    it('stores exactly the expert it returns', async () => {
      // Prepare
      const { service, repository } = setup();

      // Act
      const expert = await service.create('acme', input());

      // Assess
      expect(repository.all()).toEqual([expert]);
    });

    it('ignores server-owned fields smuggled into the input', async () => {
      // Prepare
      const { service, repository } = setup();

      // Act
      const expert = await service.create('acme', smuggled());

      // Assess
      expect(expert).toMatchObject({
        tenantId: 'acme',
        id: 'exp_000001',
        version: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
      });
      expect(await repository.get('globex', 'exp_chosen-by-client')).toBeUndefined();
    });

    it('refuses an endpoint the policy refuses with 422 and the policy’s code, and stores nothing', async () => {
      // Prepare
      const endpointPolicy = vi.fn<EndpointPolicy>(() => ({
        ok: false,
        code: 'endpoint_private_address',
        reason: 'The endpoint resolves to a private address.',
      }));
      const { service, repository } = setup({ endpointPolicy });

      // Act
      const error = await refusal(
        service.create('acme', input({ endpoint: 'http://169.254.169.254/latest' })),
      );

      // Assess
      expect(error).toBeInstanceOf(UnprocessableError);
      expect(error).toMatchObject({
        statusCode: 422,
        code: 'endpoint_private_address',
        message: 'The endpoint resolves to a private address.',
      });
      expect(endpointPolicy).toHaveBeenCalledWith('http://169.254.169.254/latest');
      expect(repository.all()).toEqual([]);
    });
  });

  describe('get', () => {
    it('reads the tenant’s own expert', async () => {
      // Prepare
      const { service } = setup();
      const created = await service.create('acme', input());

      // Act
      const read = await service.get('acme', created.id);

      // Assess
      expect(read).toEqual(created);
    });

    it('answers another tenant’s expert id exactly as a missing one: 404 expert_not_found', async () => {
      // Prepare
      const { service } = setup();
      const theirs = await service.create('globex', input());

      // Act
      const foreign = await refusal(service.get('acme', theirs.id));
      const missing = await refusal(service.get('acme', 'exp_999999'));

      // Assess
      expect(foreign).toBeInstanceOf(NotFoundError);
      expect({ status: foreign.statusCode, code: foreign.code }).toEqual({
        status: 404,
        code: 'expert_not_found',
      });
      expect({ status: missing.statusCode, code: missing.code }).toEqual({
        status: 404,
        code: 'expert_not_found',
      });
    });
  });

  describe('update', () => {
    it('keeps id, tenant and createdAt, bumps the version and stamps updatedAt', async () => {
      // Prepare
      const { service, clock } = setup();
      const created = await service.create('acme', input());
      clock.advance(60_000);

      // Act
      const updated = await service.update(
        'acme',
        created.id,
        input({ name: 'renamed', costPerCallUsd: 0.01 }),
        1,
      );

      // Assess
      expect(updated).toMatchObject({
        id: created.id,
        tenantId: 'acme',
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:01:00.000Z',
        version: 2,
        name: 'renamed',
        costPerCallUsd: 0.01,
      });
    });

    it('replaces the client-owned fields wholesale rather than merging them', async () => {
      // Prepare
      const { service, repository } = setup();
      const created = await service.create('acme', input({ metadata: { region: 'eu', tier: 'gold' } }));

      // Act
      await service.update('acme', created.id, input({ metadata: { region: 'us' } }));

      // Assess
      expect((await repository.get('acme', created.id))?.metadata).toEqual({ region: 'us' });
    });

    it('uses the stored version when the caller sends none', async () => {
      // Prepare
      const { service } = setup();
      const created = await service.create('acme', input());
      await service.update('acme', created.id, input({ name: 'second' }));

      // Act
      const third = await service.update('acme', created.id, input({ name: 'third' }));

      // Assess
      expect(third.version).toBe(3);
    });

    it('ignores server-owned fields smuggled into the input', async () => {
      // Prepare
      const { service } = setup();
      const created = await service.create('acme', input());

      // Act
      const updated = await service.update('acme', created.id, smuggled({ name: 'renamed' }));

      // Assess
      expect(updated).toMatchObject({
        id: created.id,
        tenantId: 'acme',
        version: 2,
        createdAt: created.createdAt,
      });
    });

    it('refuses a stale expected version with 409 version_conflict and keeps the stored expert', async () => {
      // Prepare
      const { service, repository } = setup();
      const created = await service.create('acme', input());
      const second = await service.update('acme', created.id, input({ name: 'second' }), 1);

      // Act
      const error = await refusal(service.update('acme', created.id, input({ name: 'lost update' }), 1));

      // Assess
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ statusCode: 409, code: 'version_conflict' });
      expect(await repository.get('acme', created.id)).toEqual(second);
    });

    it('refuses an endpoint the policy refuses with 422 and leaves the stored expert as it was', async () => {
      // Prepare
      let allow = true;
      const endpointPolicy: EndpointPolicy = () =>
        allow ? { ok: true } : { ok: false, code: 'endpoint_not_https', reason: 'Endpoints must use https.' };
      const { service, repository } = setup({ endpointPolicy });
      const created = await service.create('acme', input());
      allow = false;

      // Act
      const error = await refusal(
        service.update('acme', created.id, input({ endpoint: 'http://plain.example.com' })),
      );

      // Assess
      expect(error).toMatchObject({ statusCode: 422, code: 'endpoint_not_https' });
      expect(await repository.get('acme', created.id)).toEqual(created);
    });

    it('answers 404 for another tenant’s expert and leaves it unchanged', async () => {
      // Prepare
      const { service, repository } = setup();
      const theirs = await service.create('globex', input());

      // Act
      const error = await refusal(service.update('acme', theirs.id, input({ name: 'hijacked' })));

      // Assess
      expect(error).toMatchObject({ statusCode: 404, code: 'expert_not_found' });
      expect(await repository.get('globex', theirs.id)).toEqual(theirs);
    });
  });

  describe('remove', () => {
    it('deletes the tenant’s expert', async () => {
      // Prepare
      const { service, repository } = setup();
      const created = await service.create('acme', input());

      // Act
      await service.remove('acme', created.id, 1);

      // Assess
      expect(repository.all()).toEqual([]);
    });

    it('answers 404 for a missing expert and for another tenant’s, which it keeps', async () => {
      // Prepare
      const { service, repository } = setup();
      const theirs = await service.create('globex', input());

      // Act
      const foreign = await refusal(service.remove('acme', theirs.id));
      const missing = await refusal(service.remove('acme', 'exp_999999'));

      // Assess
      expect([foreign.code, missing.code]).toEqual(['expert_not_found', 'expert_not_found']);
      expect(repository.all()).toEqual([theirs]);
    });

    it('refuses a stale expected version with 409 and keeps the expert', async () => {
      // Prepare
      const { service, repository } = setup();
      const created = await service.create('acme', input());
      await service.update('acme', created.id, input({ name: 'second' }));

      // Act
      const error = await refusal(service.remove('acme', created.id, 1));

      // Assess
      expect(error).toMatchObject({ statusCode: 409, code: 'version_conflict' });
      expect(repository.all()).toHaveLength(1);
    });
  });

  describe('list', () => {
    it('pages through the tenant’s experts with the cursor it hands out', async () => {
      // Prepare
      const { service } = setup();
      for (let index = 0; index < 5; index += 1)
        await service.create('acme', input({ name: `expert ${index}` }));

      // Act
      const first = await service.list('acme', { limit: 3 });
      const second = await service.list('acme', { limit: 3, cursor: first.nextCursor });

      // Assess
      expect(first.items.map((expert) => expert.name)).toEqual(['expert 0', 'expert 1', 'expert 2']);
      expect(second.items.map((expert) => expert.name)).toEqual(['expert 3', 'expert 4']);
      expect(second.nextCursor).toBeUndefined();
    });
  });

  describe('tenant isolation', () => {
    const TENANTS = ['acme', 'globex'] as const;
    type Tenant = (typeof TENANTS)[number];

    /** Ids come from a tiny pool, so both tenants often hold an expert with the same id. */
    const operation = fc.oneof(
      fc.record({
        kind: fc.constant('create' as const),
        tenant: fc.constantFrom(...TENANTS),
        id: fc.constantFrom('exp_a', 'exp_b', 'exp_c'),
      }),
      fc.record({
        kind: fc.constant('update' as const),
        tenant: fc.constantFrom(...TENANTS),
        id: fc.constantFrom('exp_a', 'exp_b', 'exp_c'),
      }),
      fc.record({
        kind: fc.constant('delete' as const),
        tenant: fc.constantFrom(...TENANTS),
        id: fc.constantFrom('exp_a', 'exp_b', 'exp_c'),
      }),
    );

    const listAll = async (service: ExpertService, tenant: Tenant): Promise<Expert[]> => {
      const experts: Expert[] = [];
      let cursor: string | undefined;
      do {
        const page = await service.list(tenant, { limit: 2, cursor });
        experts.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return experts;
    };

    it('never shows one tenant a record of the other, whatever both of them do', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { maxLength: 25 }), async (operations) => {
          // Prepare
          let nextId = '';
          const { service } = setup({ ids: { next: () => nextId } });
          const model: Record<Tenant, Map<string, string>> = { acme: new Map(), globex: new Map() };

          for (const [step, op] of operations.entries()) {
            // Act
            const name = `${op.tenant} step ${step}`;
            const owned = model[op.tenant].has(op.id);
            let outcome: string;
            try {
              if (op.kind === 'create') {
                nextId = op.id;
                await service.create(op.tenant, input({ name }));
              } else if (op.kind === 'update') {
                await service.update(op.tenant, op.id, input({ name }));
              } else {
                await service.remove(op.tenant, op.id);
              }
              outcome = 'ok';
            } catch (error) {
              outcome = error instanceof AppError ? error.code : String(error);
            }

            // Assess: each operation touches only the caller's own records...
            if (op.kind === 'create') {
              expect(outcome).toBe(owned ? 'already_exists' : 'ok');
              if (!owned) model[op.tenant].set(op.id, name);
            } else if (op.kind === 'update') {
              expect(outcome).toBe(owned ? 'ok' : 'expert_not_found');
              if (owned) model[op.tenant].set(op.id, name);
            } else {
              expect(outcome).toBe(owned ? 'ok' : 'expert_not_found');
              model[op.tenant].delete(op.id);
            }

            // ...and each tenant's list holds exactly its own records, never the other's.
            for (const tenant of TENANTS) {
              const listed = await listAll(service, tenant);
              expect(listed.filter((expert) => expert.tenantId !== tenant)).toEqual([]);
              expect(new Map(listed.map((expert) => [expert.id, expert.name]))).toEqual(model[tenant]);
            }
          }
        }),
        { numRuns: 60 },
      );
    });
  });
});

describe('ExpertService.setHealth', () => {
  it('marks an expert unhealthy with who, why and until when, counting its version up', async () => {
    // Prepare
    const { service, clock } = setup();
    const created = await service.create('acme', input());
    clock.advance(1_000);

    // Act
    const marked = await service.setHealth(
      'acme',
      created.id,
      { status: 'unhealthy', reason: '5xx rate 40%', ttlSeconds: 600 },
      'monitor-bot',
    );

    // Assess
    expect(marked.version).toBe(2);
    expect(marked.health).toEqual({
      status: 'unhealthy',
      reason: '5xx rate 40%',
      setAt: '2026-01-01T00:00:01.000Z',
      setBy: 'monitor-bot',
      until: '2026-01-01T00:10:01.000Z',
    });
    expect({ ...marked, health: undefined, version: 1, updatedAt: created.updatedAt }).toEqual({
      ...created,
      health: undefined,
    });
  });

  it('keeps the health mark through a full update of the client-owned fields', async () => {
    // Prepare
    const { service } = setup();
    const created = await service.create('acme', input());
    await service.setHealth('acme', created.id, { status: 'unhealthy' }, 'ops');

    // Act
    const updated = await service.update('acme', created.id, input({ name: 'renamed' }));

    // Assess
    expect(updated.name).toBe('renamed');
    expect(updated.health?.status).toBe('unhealthy');
  });

  it('refuses another tenant’s expert with 404 and a stale If-Match with 409', async () => {
    // Prepare
    const { service } = setup();
    const created = await service.create('acme', input());

    // Act
    const foreign = await refusal(service.setHealth('globex', created.id, { status: 'unhealthy' }, 'x'));
    const stale = await refusal(service.setHealth('acme', created.id, { status: 'healthy' }, 'x', 7));

    // Assess
    expect(foreign.statusCode).toBe(404);
    expect(stale.statusCode).toBe(409);
  });
});

describe('isUnhealthy', () => {
  const at = (iso: string) => new Date(iso);
  const mark = (status: 'healthy' | 'unhealthy', until?: string) => ({
    health: { status, setAt: '2026-01-01T00:00:00.000Z', setBy: 'ops', ...(until ? { until } : {}) },
  });

  it('is true for an unhealthy mark until it lapses, false for healthy, absent or lapsed marks', () => {
    expect(isUnhealthy({}, at('2026-01-01T00:00:00Z'))).toBe(false);
    expect(isUnhealthy(mark('healthy'), at('2026-01-01T00:00:00Z'))).toBe(false);
    expect(isUnhealthy(mark('unhealthy'), at('2030-01-01T00:00:00Z'))).toBe(true);
    expect(isUnhealthy(mark('unhealthy', '2026-01-01T00:10:00.000Z'), at('2026-01-01T00:09:59Z'))).toBe(true);
    expect(isUnhealthy(mark('unhealthy', '2026-01-01T00:10:00.000Z'), at('2026-01-01T00:10:00Z'))).toBe(
      false,
    );
  });
});
